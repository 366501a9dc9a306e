/** `meta.k8s.io/v1` Table responses: what `kubectl get` prints (a CRD's printer columns, or Name/Age). */
import { compileJsonPath } from './jsonpath.js';
import type { PrinterColumn, ResourceType } from './registry.js';
import type { KObject } from './store.js';

interface Column {
  def: PrinterColumn;
  cell: (obj: KObject) => unknown;
}

/** "5s", "3m", "2h", "4d": the API server's short human durations. */
export function humanAge(since: string | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function jsonPathColumn(def: PrinterColumn): Column {
  const read = compileJsonPath(def.jsonPath);
  return {
    def,
    cell: (obj) => {
      const v = read(obj)[0];
      if (v === undefined || v === null) return null;
      if (def.type === 'date') return humanAge(String(v));
      return typeof v === 'object' ? JSON.stringify(v) : v;
    },
  };
}

const nameColumn: Column = { def: { name: 'Name', type: 'string', format: 'name', jsonPath: '.metadata.name', description: 'Name must be unique within a namespace.' }, cell: (o) => o.metadata.name };
const ageColumn: Column = { def: { name: 'Age', type: 'string', jsonPath: '.metadata.creationTimestamp' }, cell: (o) => humanAge(o.metadata.creationTimestamp) };

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const replicaColumns: Column[] = [
  { def: { name: 'Ready', type: 'string', jsonPath: '' }, cell: (o) => `${num((o.status as Record<string, unknown>)?.readyReplicas)}/${num((o.spec as Record<string, unknown>)?.replicas)}` },
];

/** Core v1 Events as `kubectl get events` shows them: what happened to which object. */
const eventColumns: Column[] = [
  { def: { name: 'Last Seen', type: 'string', jsonPath: '' }, cell: (o) => humanAge(String(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp)) },
  jsonPathColumn({ name: 'Type', type: 'string', jsonPath: '.type' }),
  jsonPathColumn({ name: 'Reason', type: 'string', jsonPath: '.reason' }),
  {
    def: { name: 'Object', type: 'string', jsonPath: '' },
    cell: (o) => {
      const ref = (o.involvedObject ?? {}) as { kind?: string; name?: string };
      return `${(ref.kind ?? '').toLowerCase()}/${ref.name ?? ''}`;
    },
  },
  jsonPathColumn({ name: 'Message', type: 'string', jsonPath: '.message' }),
];

const phaseColumn = jsonPathColumn({ name: 'Status', type: 'string', jsonPath: '.status.phase' });

function columnsFor(t: ResourceType): Column[] {
  if (t.printerColumns) return [nameColumn, ...t.printerColumns.map(jsonPathColumn)];
  if (t.group === '' && t.kind === 'Event') return eventColumns;
  if (t.group === '' && t.kind === 'Namespace') return [nameColumn, phaseColumn, ageColumn];
  if (t.scale) return [nameColumn, ...replicaColumns, ageColumn];
  return [nameColumn, ageColumn];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function toTable(t: ResourceType, objects: KObject[], resourceVersion: string, include: IncludeObject, withColumns = true): object {
  const columns = columnsFor(t);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: withColumns
      ? columns.map((c) => ({ name: c.def.name, type: c.def.type === 'date' ? 'string' : c.def.type, format: c.def.format ?? '', description: c.def.description ?? '', priority: c.def.priority ?? 0 }))
      : null,
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      object:
        include === 'Object'
          ? o
          : include === 'Metadata'
            ? { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }
            : undefined,
    })),
  };
}

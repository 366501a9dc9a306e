/**
 * Server-side apply and field ownership, simplified: a field is a leaf path (lists are atomic),
 * each manager owns a set of them (metadata.managedFields, FieldsV1), an apply that changes a
 * field another manager owns conflicts unless forced, and fields a manager stops applying are
 * removed unless someone else owns them.
 */
import { ApiError } from './errors.js';
import type { KObject } from './store.js';

type JsonObject = Record<string, unknown>;
type Path = string[];
const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

const SEP = '\u0000';
const key = (p: Path): string => p.join(SEP);

/** The leaf paths of an object's user fields (not apiVersion/kind/status; metadata labels/annotations/finalizers only). */
export function leafPaths(obj: JsonObject, subresource?: string): Path[] {
  const out: Path[] = [];
  const walk = (v: unknown, path: Path): void => {
    if (isObject(v) && Object.keys(v).length > 0) for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
    else out.push(path);
  };
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if ((k === 'status') !== (subresource === 'status')) continue;
    if (k === 'metadata' && isObject(v)) {
      for (const m of ['labels', 'annotations']) if (isObject(v[m])) for (const l of Object.keys(v[m])) out.push(['metadata', m, l]);
      if (Array.isArray(v.finalizers)) out.push(['metadata', 'finalizers']);
    } else walk(v, [k]);
  }
  return out;
}

function toFieldsV1(paths: Path[]): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p) cur = (cur[`f:${seg}`] ??= {}) as JsonObject;
  }
  return root;
}

function fromFieldsV1(f: JsonObject, prefix: Path = []): Path[] {
  const out: Path[] = [];
  for (const [k, v] of Object.entries(f)) {
    if (!k.startsWith('f:')) continue;
    const path = [...prefix, k.slice(2)];
    if (isObject(v) && Object.keys(v).some((c) => c.startsWith('f:'))) out.push(...fromFieldsV1(v, path));
    else out.push(path);
  }
  return out;
}

function getAt(obj: unknown, path: Path): unknown {
  let cur = obj;
  for (const seg of path) cur = isObject(cur) ? cur[seg] : undefined;
  return cur;
}

function deleteAt(obj: JsonObject, path: Path): void {
  const parents: JsonObject[] = [obj];
  for (const seg of path.slice(0, -1)) {
    const next = parents[parents.length - 1][seg];
    if (!isObject(next)) return;
    parents.push(next);
  }
  delete parents[parents.length - 1][path[path.length - 1]];
  // Drop objects left empty by the removal, as the real merge does.
  for (let i = parents.length - 1; i > 0; i--) if (Object.keys(parents[i]).length === 0) delete parents[i - 1][path[i - 1]];
}

const entriesOf = (obj: KObject): ManagedFieldsEntry[] => (obj.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [];
const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function setEntry(entries: ManagedFieldsEntry[], e: Omit<ManagedFieldsEntry, 'fieldsV1' | 'time' | 'fieldsType'>, paths: Path[]): ManagedFieldsEntry[] {
  const rest = entries.filter((x) => !(x.manager === e.manager && x.operation === e.operation && x.subresource === e.subresource));
  if (paths.length === 0) return rest;
  return [...rest, { ...e, time: now(), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(paths) }];
}

/** Takes `paths` away from every entry but `keep`'s, dropping entries left empty. */
function disown(entries: ManagedFieldsEntry[], paths: Set<string>, keep: (e: ManagedFieldsEntry) => boolean): ManagedFieldsEntry[] {
  return entries.flatMap((e) => {
    if (keep(e)) return [e];
    const left = fromFieldsV1(e.fieldsV1).filter((p) => !paths.has(key(p)));
    return left.length ? [{ ...e, fieldsV1: toFieldsV1(left) }] : [];
  });
}

export interface ApplyRequest {
  manager: string;
  force: boolean;
  subresource?: string;
  /** The applied object as the schema defaults it: its values are compared and stored (a list the
   * applier wrote without defaults equals the stored, defaulted one). Ownership follows `applied`. */
  defaulted?: KObject;
}

function setAt(obj: JsonObject, path: Path, value: unknown): void {
  let cur = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as JsonObject;
  }
  cur[path[path.length - 1]] = structuredClone(value);
}

/**
 * Server-side apply of `applied` onto `current` (undefined: create). Returns the merged object
 * with its managedFields, or throws 409 naming the conflicting fields and managers.
 */
export function serverSideApply(current: KObject | undefined, applied: KObject, req: ApplyRequest): KObject {
  const newPaths = leafPaths(applied, req.subresource);
  const values = req.defaulted ?? applied;
  const newKeys = new Set(newPaths.map(key));
  const base: KObject = current ? structuredClone(current) : { apiVersion: applied.apiVersion, kind: applied.kind, metadata: { name: applied.metadata.name } };
  let entries = entriesOf(base);
  const mine = (e: ManagedFieldsEntry): boolean => e.manager === req.manager && e.operation === 'Apply' && e.subresource === req.subresource;

  const conflicts: Array<{ entry: ManagedFieldsEntry; path: Path }> = [];
  for (const e of entries) {
    if (mine(e)) continue;
    for (const p of fromFieldsV1(e.fieldsV1)) {
      if (newKeys.has(key(p)) && JSON.stringify(getAt(base, p)) !== JSON.stringify(getAt(values, p))) conflicts.push({ entry: e, path: p });
    }
  }
  if (conflicts.length && !req.force) {
    const lines = conflicts.map((c) => `conflict with "${c.entry.manager}"${c.entry.operation === 'Update' ? ` using ${c.entry.apiVersion}` : ''}: .${c.path.join('.')}`);
    throw new ApiError(409, 'Conflict', `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${lines.join('\n')}`, {
      causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.entry.manager}"`, field: `.${c.path.join('.')}` })),
    });
  }
  // Forced: the changed fields become ours alone. Unchanged ones are shared.
  if (conflicts.length) entries = disown(entries, new Set(conflicts.map((c) => key(c.path))), mine);

  const previous = entries.find(mine);
  const ownedByOthers = new Set(entries.filter((e) => !mine(e)).flatMap((e) => fromFieldsV1(e.fieldsV1).map(key)));
  for (const p of previous ? fromFieldsV1(previous.fieldsV1) : []) if (!newKeys.has(key(p)) && !ownedByOthers.has(key(p))) deleteAt(base, p);

  const appliedMeta = applied.metadata;
  for (const p of newPaths) if (p[0] !== 'metadata') setAt(base, p, getAt(values, p));
  for (const m of ['labels', 'annotations'] as const) if (appliedMeta[m]) base.metadata[m] = { ...(base.metadata[m] ?? {}), ...appliedMeta[m] };
  if (appliedMeta.finalizers) base.metadata.finalizers = appliedMeta.finalizers;
  base.metadata.managedFields = setEntry(entries, { manager: req.manager, operation: 'Apply', apiVersion: applied.apiVersion, subresource: req.subresource }, newPaths);
  return base;
}

/** After a non-apply write by `manager`: the leaves it changed become its own (operation Update). */
export function recordUpdate(before: KObject | undefined, after: KObject, manager: string, subresource?: string): void {
  const oldLeaves = new Map((before ? leafPaths(before, subresource) : []).map((p) => [key(p), JSON.stringify(getAt(before, p))]));
  const newLeaves = leafPaths(after, subresource);
  const changed = newLeaves.filter((p) => oldLeaves.get(key(p)) !== JSON.stringify(getAt(after, p)));
  const removed = new Set([...oldLeaves.keys()].filter((k) => !newLeaves.some((p) => key(p) === k)));
  const isMine = (e: ManagedFieldsEntry): boolean => e.manager === manager && e.operation === 'Update' && e.subresource === subresource;
  let entries = disown(entriesOf(before ?? after), new Set([...changed.map(key), ...removed]), isMine);
  const kept = entries.find(isMine);
  const ownedPaths = [...(kept ? fromFieldsV1(kept.fieldsV1).filter((p) => !removed.has(key(p))) : []), ...changed];
  const unique = [...new Map(ownedPaths.map((p) => [key(p), p])).values()];
  entries = setEntry(entries, { manager, operation: 'Update', apiVersion: after.apiVersion, subresource }, unique);
  after.metadata.managedFields = entries;
}

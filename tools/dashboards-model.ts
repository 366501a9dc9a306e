/**
 * A small builder for Grafana dashboard JSON models (schemaVersion 39): Prometheus queries through
 * a `${datasource}` variable, query variables with an "All" of `.*`, and panels laid out left to
 * right in rows of 24 grid units. Only what tools/dashboards.ts uses.
 */

export const SCHEMA_VERSION = 39;
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
const GRID_WIDTH = 24;

export interface Target {
  refId: string;
  expr: string;
  legendFormat: string;
  datasource: typeof DATASOURCE;
  range: true;
}

export interface Panel {
  id: number;
  type: 'timeseries' | 'stat' | 'row';
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: typeof DATASOURCE;
  targets?: Target[];
  fieldConfig?: { defaults: Record<string, unknown>; overrides: unknown[] };
  options?: Record<string, unknown>;
  collapsed?: boolean;
  panels?: Panel[];
}

export interface Variable {
  name: string;
  label: string;
  type: 'datasource' | 'query';
  [key: string]: unknown;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  schemaVersion: number;
  version: number;
  editable: boolean;
  graphTooltip: number;
  timezone: string;
  time: { from: string; to: string };
  refresh: string;
  annotations: { list: unknown[] };
  links: unknown[];
  templating: { list: Variable[] };
  panels: Panel[];
}

/** A query: PromQL and the legend Grafana shows for each series. */
export interface Query {
  expr: string;
  legend: string;
}

export const q = (expr: string, legend = ''): Query => ({ expr, legend });

/** What a panel shows; the layout adds id and position. */
export interface PanelSpec {
  kind: 'timeseries' | 'stat';
  title: string;
  description: string;
  queries: Query[];
  unit?: string;
  /** Width in grid units (24 = full row); default 12. */
  width?: number;
  height?: number;
  min?: number;
  max?: number;
  /** Draw as steps (levels, versions, 0/1 states). */
  steps?: boolean;
}

export interface RowSpec {
  row: string;
  panels: PanelSpec[];
}

export function datasourceVariable(): Variable {
  return { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', options: [] };
}

/** A multi-value variable from `label_values(<selector>, <label>)`; "All" is `.*`, so series without the label match too. */
export function labelVariable(name: string, label: string, selector: string): Variable {
  const query = `label_values(${selector}, ${name})`;
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    refresh: 2,
    includeAll: true,
    allValue: '.*',
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    sort: 1,
    regex: '',
    hide: 0,
  };
}

function panel(spec: PanelSpec, id: number, gridPos: Panel['gridPos']): Panel {
  const defaults: Record<string, unknown> = { unit: spec.unit ?? 'short' };
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  if (spec.kind === 'timeseries') {
    defaults.custom = { drawStyle: 'line', lineInterpolation: spec.steps ? 'stepAfter' : 'linear', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false };
  }
  const targets = spec.queries.map((query, i) => ({
    refId: String.fromCharCode(65 + i),
    expr: query.expr,
    legendFormat: query.legend,
    datasource: DATASOURCE,
    range: true as const,
  }));
  const options =
    spec.kind === 'timeseries'
      ? { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } }
      : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto' };
  return {
    id,
    type: spec.kind,
    title: spec.title,
    description: spec.description,
    gridPos,
    datasource: DATASOURCE,
    targets,
    fieldConfig: { defaults, overrides: [] },
    options,
  };
}

/** Rows of panels, laid out in order: each row header takes a full line, panels wrap at 24 units. */
export function layout(rows: RowSpec[]): Panel[] {
  const out: Panel[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    out.push({ id: id++, type: 'row', title: row.row, collapsed: false, panels: [], gridPos: { h: 1, w: GRID_WIDTH, x: 0, y } });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of row.panels) {
      const w = spec.width ?? 12;
      const h = spec.height ?? 8;
      if (x + w > GRID_WIDTH) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      out.push(panel(spec, id++, { h, w, x, y }));
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return out;
}

export function dashboard(opts: { uid: string; title: string; description: string; variables: Variable[]; rows: RowSpec[] }): Dashboard {
  return {
    uid: opts.uid,
    title: opts.title,
    description: opts.description,
    tags: ['spillway'],
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    editable: true,
    graphTooltip: 1,
    timezone: 'browser',
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    annotations: { list: [] },
    links: [{ title: 'Spillway', type: 'dashboards', tags: ['spillway'], asDropdown: true, includeVars: true, keepTime: true }],
    templating: { list: opts.variables },
    panels: layout(opts.rows),
  };
}

/** Every query of a dashboard with the title of its panel (rows have none). */
export function panelQueries(d: Dashboard): { panel: string; expr: string }[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

/** A query as Prometheus receives it from Grafana with every variable on "All" (tests run them this way). */
export function substituteVariables(expr: string, rateInterval = '1m'): string {
  return expr.replace(/\$__rate_interval/g, rateInterval).replace(/\$(namespace|workload|pod|route)\b/g, '.*');
}

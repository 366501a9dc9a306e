/**
 * The Grafana dashboards: the committed JSON is what tools/dashboards.ts generates, every panel
 * has queries, every query parses (as a recording rule under `promtool check rules`: promtool has
 * no standalone expression check) and only uses metrics our code exports, and the chart ships
 * them as ConfigMaps. That each query returns data is e2e/prometheus.test.ts's job.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { DASHBOARD_NAMES, buildDashboard, dashboardPath, renderDashboard } from '../../tools/dashboards.js';
import { panelQueries, SCHEMA_VERSION, substituteVariables } from '../../tools/dashboards-model.js';
import { helm, REPO_ROOT } from '../support/helm.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return e.endsWith('.ts') && !e.endsWith('.test.ts') ? [p] : [];
  });
}

/** Our metric names (spillway_*, and client-go's workqueue_* the operator exports). */
const OUR_METRIC = /\b((?:spillway|workqueue)_[a-z_]+)/g;

/** Metric names our processes register (string literals in the sidecar, operator and lib sources). */
function exportedMetricNames(): Set<string> {
  const names = new Set<string>();
  for (const f of ['sidecar', 'operator', 'lib'].flatMap((d) => sourceFiles(join(REPO_ROOT, d)))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/'((?:spillway|workqueue)_[a-z_]+)'/g)) names.add(m[1]);
  }
  return names;
}

describe('dashboards', () => {
  it.each(DASHBOARD_NAMES)('%s.json is the generator output', (name) => {
    expect(readFileSync(join(REPO_ROOT, dashboardPath(name)), 'utf8')).toBe(renderDashboard(name));
  });

  it.each(DASHBOARD_NAMES)('%s: a Grafana model with a datasource variable and a query on every panel', (name) => {
    const d = buildDashboard(name);
    expect(d.schemaVersion).toBe(SCHEMA_VERSION);
    expect(d.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    const vars = d.templating.list.map((v) => v.name);
    expect(vars).toEqual(expect.arrayContaining(name === 'operator' ? ['namespace', 'pod'] : ['namespace', 'workload', 'pod']));
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect([p.title, p.datasource?.uid]).toEqual([p.title, '${datasource}']);
      expect([p.title, (p.targets ?? []).length > 0]).toEqual([p.title, true]);
      for (const t of p.targets ?? []) expect([p.title, t.expr.trim().length > 0]).toEqual([p.title, true]);
    }
  });

  it('queries parse and use only exported metrics', () => {
    const queries = DASHBOARD_NAMES.flatMap((n) => panelQueries(buildDashboard(n)).map((x) => ({ ...x, dashboard: n })));
    expect(queries.length).toBeGreaterThan(30);
    const dir = mkdtempSync(join(tmpdir(), 'spillway-dashboards-'));
    try {
      const file = join(dir, 'queries.rules.yaml');
      const rules = queries.map((x, i) => ({ record: `dashboard_query_${i}`, expr: substituteVariables(x.expr) }));
      writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`${r.stdout}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const exported = exportedMetricNames();
    const unknown = new Set<string>();
    for (const x of queries) {
      for (const m of x.expr.matchAll(OUR_METRIC)) {
        const name = m[1].replace(/_(bucket|sum|count)$/, '');
        if (!exported.has(name)) unknown.add(`${x.dashboard} / ${x.panel}: ${m[1]}`);
      }
    }
    expect([...unknown]).toEqual([]);
  });
});

describe('dashboard ConfigMaps in the chart', () => {
  function configMaps(args: string[]): Array<Record<string, any>> {
    const r = helm(['template', 'sw', join(REPO_ROOT, 'charts', 'spillway'), '--namespace', 'spillway-system', ...args]);
    if (r.status !== 0) throw new Error(r.stderr);
    return parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as Record<string, any> | null)
      .filter((o): o is Record<string, any> => o !== null && o.kind === 'ConfigMap' && /-dashboard-/.test(o.metadata.name));
  }

  it('are off by default', () => {
    expect(configMaps([])).toEqual([]);
  });

  it('carry each dashboard with the Grafana sidecar label, in the chosen namespace', () => {
    const cms = configMaps(['--set', 'dashboards.enabled=true', '--set', 'dashboards.namespace=monitoring']);
    expect(cms.map((c) => c.metadata.name).sort()).toEqual(DASHBOARD_NAMES.map((n) => `sw-spillway-dashboard-${n}`).sort());
    for (const cm of cms) {
      expect(cm.metadata.labels.grafana_dashboard).toBe('1');
      expect(cm.metadata.namespace).toBe('monitoring');
      const [key] = Object.keys(cm.data);
      const name = key.replace(/^spillway-|\.json$/g, '') as (typeof DASHBOARD_NAMES)[number];
      expect(JSON.parse(cm.data[key])).toEqual(buildDashboard(name));
    }
  });
});

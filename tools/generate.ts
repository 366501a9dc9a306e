/**
 * Writes every generated file from its single source (`npm run generate`). CI regenerates and
 * fails on any difference (`npm run check-generated`), so the committed files never drift.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Generated {
  /** Path relative to the repository root. */
  path: string;
  render(): string | Promise<string>;
}

/** Each generator module adds its outputs here. */
const generators: Array<() => Promise<Generated[]>> = [];

// The TrafficPolicy CRD, from the zod schema.
generators.push(async () => {
  const { CRD_FILE, renderCrdYaml } = await import('../api/crd.js');
  return [{ path: CRD_FILE, render: renderCrdYaml }];
});

// The same CRD inside the Helm chart (a chart can only read its own files): templates/crd.yaml
// renders it behind `crds.enabled` with `helm.sh/resource-policy: keep`.
generators.push(async () => {
  const { renderCrdYaml } = await import('../api/crd.js');
  return [{ path: 'charts/spillway/files/crd.yaml', render: renderCrdYaml }];
});

// The chart's values table, from the comments in values.yaml.
generators.push(async () => {
  const { CHART_README, renderChartReadme } = await import('./chart-values-doc.js');
  return [{ path: CHART_README, render: renderChartReadme }];
});

// The chart's values.schema.json, from the zod schema (bounds from lib/, descriptions from values.yaml).
generators.push(async () => {
  const { CHART_VALUES_SCHEMA, renderChartValuesSchema } = await import('./chart-values-schema.js');
  return [{ path: CHART_VALUES_SCHEMA, render: renderChartValuesSchema }];
});

// The Grafana dashboards (charts/spillway/dashboards/*.json, shipped by templates/dashboards.yaml).
generators.push(async () => {
  const { DASHBOARD_NAMES, dashboardPath, renderDashboard } = await import('./dashboards.js');
  return DASHBOARD_NAMES.map((name) => ({ path: dashboardPath(name), render: () => renderDashboard(name) }));
});

// The policy reference, from the CRD schema.
generators.push(async () => {
  const { POLICY_REFERENCE, renderPolicyReference } = await import('./policy-reference.js');
  return [{ path: POLICY_REFERENCE, render: renderPolicyReference }];
});

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function main(): Promise<void> {
  for (const load of generators) {
    for (const g of await load()) {
      const file = join(root, g.path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, await g.render());
      process.stdout.write(`generated ${g.path}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`generate: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

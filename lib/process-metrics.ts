/**
 * The metrics every Spillway process exports alike: prom-client's default `process_*` and
 * `nodejs_*` (no prefix, so one dashboard query covers the sidecar and the operator) and
 * `spillway_build_info`, the constant-1 gauge that says which build a pod runs.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

export type Component = 'sidecar' | 'operator';

/** The package's version, from the nearest package.json named "spillway" above this module. */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'spillway' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no (readable) package.json here: look one folder up
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

export function registerProcessMetrics(registry: Registry, component: Component): void {
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'spillway_build_info',
    help: 'Always 1; the labels say which Spillway build and Node.js release this process runs.',
    labelNames: ['version', 'node_version', 'component'] as const,
    registers: [registry],
  }).set({ version: packageVersion(), node_version: process.versions.node, component }, 1);
}

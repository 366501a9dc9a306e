/**
 * Shared by the config and admin tests: a fake DataPlane (our seam with the inbound proxy),
 * policies and compiled configs, and polling helpers (the capturing logger: test/support/log.ts).
 */
import type { Registry } from 'prom-client';
import type { CompiledConfig } from '../../api/config.js';
import type { DataPlane, DataPlaneState } from '../../sidecar/contracts.js';
import { compilePolicyYaml } from '../../sidecar/config/file-source.js';

export class FakeDataPlane implements DataPlane {
  applied: CompiledConfig[] = [];
  clears = 0;
  current: CompiledConfig | null = null;

  apply(config: CompiledConfig): void {
    this.applied.push(config);
    this.current = config;
  }
  clear(): void {
    this.clears++;
    this.current = null;
  }
  state(): DataPlaneState {
    return { loadLevel: 0, utilisation: 0, sessions: 0, configVersion: this.current?.version ?? 0, classes: [] };
  }
  loadLevel(): number {
    return 0;
  }
}

/** A TrafficPolicy for talk/chat whose `send-message` class has the given limit. */
export function policyYaml(limit: number | string): string {
  return `apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: chat, namespace: talk }
spec:
  targetRef: { kind: Deployment, name: chat }
  classes:
    - name: send-message
      match: [{ method: POST, pathPrefix: /messages }]
      concurrency: { limit: ${limit} }
`;
}

/** The compiled config the operator would publish for policyYaml(limit) at this version. */
export function remoteConfig(version: number, limit = 10): CompiledConfig {
  const r = compilePolicyYaml(policyYaml(limit));
  if (!r.ok) throw new Error(r.error);
  return { ...r.config, version };
}

export function limitOf(config: CompiledConfig | null): number | undefined {
  return config?.classes.find((c) => c.name === 'send-message')?.limit;
}

/** Polls until `check` is true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
  return hit?.value ?? 0;
}

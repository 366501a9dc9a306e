/**
 * The control-plane parts the Spillway-only scenarios need: a private redis-server that can be
 * killed and restarted on its port, compiled configs written to it the way the operator writes
 * them, and sidecars that read their config from Redis instead of a policy file.
 */
import { Redis } from 'ioredis';
import { CONFIG_CHANNEL, configKey, type CompiledConfig } from '../../api/config.js';
import { compile } from '../../api/compile.js';
import type { TrafficPolicySpecInput } from '../../api/policy.js';
import { parsePolicy } from '../../api/validate.js';
import { spawnChild, type Child } from '../apps/child-process.js';
import { freePort } from '../apps/free-port.js';
import { startSidecar, type SidecarProcess } from '../apps/launch.js';

export const NAMESPACE = 'scenarios';
export const TARGET = `${NAMESPACE}/chat`;

/** redis-server without persistence on a fixed port: stop() loses its data, as a crashed pod would. */
export class RedisProcess {
  private child: Child | null = null;
  private constructor(readonly port: number) {}

  static async start(): Promise<RedisProcess> {
    const r = new RedisProcess(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.child = spawnChild('redis-server', 'redis-server', args);
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await client.connect();
        await client.ping();
        client.disconnect();
        return;
      } catch {
        client.disconnect();
        if (Date.now() > deadline) throw new Error(`redis-server not answering on ${this.port}:\n${this.child.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async stop(): Promise<void> {
    await this.child?.stop(1000);
    this.child = null;
  }
}

/** Compiles `spec` as the operator would for `readyReplicas` and stores it under the scenario's key with `version`. */
export async function publishConfig(redisUrl: string, spec: TrafficPolicySpecInput, readyReplicas: number, version: number): Promise<CompiledConfig> {
  const parsed = parsePolicy({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'chat', namespace: NAMESPACE }, spec });
  if (!parsed.ok) throw new Error(`scenario policy invalid: ${parsed.error}`);
  const config: CompiledConfig = { ...compile(parsed.value, readyReplicas), version };
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    await client.set(configKey(TARGET), JSON.stringify(config));
    await client.publish(CONFIG_CHANNEL, TARGET);
  } finally {
    client.disconnect();
  }
  return config;
}

/** `spillway sidecar --redis URL --config-key scenarios/chat --pod-name POD`; ready when /readyz answers 200 (a config is in force). */
export function startRedisSidecar(redisUrl: string, upstream: string, podName: string, extraArgs: string[] = []): Promise<SidecarProcess> {
  return startSidecar({
    name: podName,
    upstream,
    extraArgs: ['--redis', redisUrl, '--config-key', TARGET, '--pod-name', podName, '--host', '127.0.0.1', ...extraArgs],
  });
}

export interface SidecarView {
  configVersion: number;
  loadLevel: number;
  limits: Record<string, number>;
}

/** The sidecar's /state, reduced to what the scenarios judge; null when it does not answer. */
export async function sidecarView(adminUrl: string): Promise<SidecarView | null> {
  try {
    const res = await fetch(`${adminUrl}/state`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return null;
    const s = (await res.json()) as { configVersion: number; loadLevel: number; classes: Array<{ name: string; limit: number }> };
    return { configVersion: s.configVersion, loadLevel: s.loadLevel, limits: Object.fromEntries(s.classes.map((c) => [c.name, c.limit])) };
  } catch {
    return null;
  }
}

/** Polls until `ok` holds; returns the ms it took, or null after `timeoutMs`. */
export async function msUntil(ok: () => Promise<boolean>, timeoutMs: number, everyMs = 25): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await ok()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return null;
}

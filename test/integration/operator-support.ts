/** Shared helpers of the operator integration tests (fake API server, real redis-server). */
import type { Redis } from 'ioredis';
import type { CompiledConfig } from '../../api/config.js';

/** Polls fn until it returns something truthy; fails after timeoutMs (generous: the machine is shared). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 8000): Promise<Exclude<T, null | undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<T, null | undefined | false>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The compiled config the operator published for a target ("namespace/name"), or null. */
export async function storedConfig(client: Redis, target: string): Promise<CompiledConfig | null> {
  const raw = await client.get(`spillway:config:${target}`);
  return raw ? (JSON.parse(raw) as CompiledConfig) : null;
}

/** Shared by the egress integration tests: configs from policy fragments, and a plain HTTP client. */
import http from 'node:http';
import { compile } from '../../api/compile.js';
import type { CompiledConfig } from '../../api/config.js';
import { parsePolicy } from '../../api/validate.js';

let version = 0;

/** A compiled config with the given routes (policy route syntax, defaults filled by the schema). */
export function configWithRoutes(routes: unknown[], activeVendors: Record<string, string> = {}): CompiledConfig {
  const r = parsePolicy({
    apiVersion: 'spillway.io/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'relay', namespace: 'talk', generation: 1 },
    spec: { targetRef: { name: 'relay' }, routes },
  });
  if (!r.ok) throw new Error(r.error);
  return { ...compile(r.value, 1, { activeVendors }), version: ++version };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One request on a fresh connection (no pooled sockets left behind), with a client timeout. */
export function request(
  port: number,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'POST', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until check() is true or the time is up; returns whether it became true. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/**
 * Open-loop load: `count` sends, one every `intervalMs`, whatever the answers; resolves with
 * every reply (or error) once all are done. Bounded by count and each request's client timeout.
 */
export async function openLoop<T>(count: number, intervalMs: number, send: (i: number) => Promise<T>): Promise<Array<T | Error>> {
  const all: Array<Promise<T | Error>> = [];
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * intervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    all.push(send(i).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
  }
  return Promise.all(all);
}

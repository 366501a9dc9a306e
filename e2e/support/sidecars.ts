/**
 * The parts of an operator + sidecars test that several suites share: vendors and an upstream
 * that holds requests, named sidecar processes, and the admin-port and budget checks.
 */
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { waitFor } from './control-plane.js';
import { SpillwayProcess } from './spillway-process.js';
import { freePort } from '../../test/support/ports.js';

/** A vendor: counts what it gets; answers 200, or 500 while failing. */
export class Vendor {
  received = 0;
  /** Sends received per Idempotency-Key. */
  readonly byKey = new Map<string, number>();
  failing = false;
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      req.resume();
      this.received++;
      const key = req.headers['idempotency-key'];
      if (typeof key === 'string') this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
      res.writeHead(this.failing ? 500 : 200).end();
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** The app: answers at once, except /login, which it holds until released. */
export class HoldingUpstream {
  private readonly held: ServerResponse[] = [];
  private server!: Server;

  async start(): Promise<number> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      if (req.url === '/login') this.held.push(res);
      else res.end('ok');
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  get holding(): number {
    return this.held.length;
  }

  release(): void {
    for (const res of this.held.splice(0)) res.end('ok');
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** A named operator or sidecar process (the name heads its log). */
export class Proc extends SpillwayProcess {
  constructor(
    readonly name: string,
    args: string[],
    env?: NodeJS.ProcessEnv,
  ) {
    super(args, env);
  }
}

export interface Sidecar {
  proc: Proc;
  pod: string;
  listen: number;
  admin: number;
  egress: number;
}

/** One send through a sidecar's egress route. */
export async function send(s: Sidecar, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${s.egress}/push/v1/send`, { method: 'POST', body: '{}', headers });
  await res.body?.cancel();
  return res.status;
}

/** One POST /login through a sidecar; resolves with the status when the answer starts. */
export function login(port: number): { status: Promise<{ status: number; reason?: string }> } {
  const status = new Promise<{ status: number; reason?: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/login', agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, reason: res.headers['x-spillway-reason'] as string | undefined });
    });
    req.on('error', reject);
    req.end();
  });
  return { status };
}

export async function adminGet(s: Sidecar, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${s.admin}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The version of the config a sidecar enforces (0: none). */
export async function configVersion(s: Sidecar): Promise<number> {
  const r = await adminGet(s, '/config');
  return r.status === 200 ? (r.body.version as number) : 0;
}

export async function classLimit(s: Sidecar, name: string): Promise<number | undefined> {
  const st = (await adminGet(s, '/state')).body as { classes: Array<{ name: string; limit: number }> };
  return st.classes?.find((c) => c.name === name)?.limit;
}

/**
 * Fills background-login on one sidecar with `limit` held requests, checks the next one is
 * refused 503 capacity, then releases the held ones. Requests still open on a failure go to `pending`.
 */
export async function expectBudget(upstream: HoldingUpstream, s: Sidecar, limit: number, pending: Array<Promise<unknown>>): Promise<void> {
  const before = upstream.holding;
  const admitted = Array.from({ length: limit }, () => login(s.listen).status);
  pending.push(...admitted);
  await waitFor(`${limit} held at the upstream via ${s.pod}`, () => upstream.holding === before + limit);
  const refused = await login(s.listen).status;
  expect({ pod: s.pod, ...refused }).toEqual({ pod: s.pod, status: 503, reason: 'capacity' });
  upstream.release();
  for (const r of await Promise.all(admitted)) expect(r.status).toBe(200);
}

/** A sidecar process for pod `pod` of `configKey`'s workload, on free ports, its state under `stateRoot`. */
export async function startSidecar(opts: { pod: string; redis: string; configKey: string; upstreamPort: number; stateRoot: string; env?: NodeJS.ProcessEnv }): Promise<Sidecar> {
  const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
  const proc = new Proc(opts.pod, [
    'sidecar',
    '--redis', opts.redis,
    '--config-key', opts.configKey,
    '--pod-name', opts.pod,
    '--upstream', `http://127.0.0.1:${opts.upstreamPort}`,
    '--host', '127.0.0.1',
    '--listen', String(listen),
    '--admin', String(admin),
    '--egress', String(egress),
    '--state-dir', join(opts.stateRoot, opts.pod),
  ], opts.env);
  return { proc, pod: opts.pod, listen, admin, egress };
}

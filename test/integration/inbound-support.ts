/** Shared fixtures of the inbound data-plane tests: compiled configs, a gated upstream, a client. */
import { createServer, request, type Agent, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { compile } from '../../api/compile.js';
import type { CompiledConfig } from '../../api/config.js';
import { parsePolicy } from '../../api/validate.js';
import { Inbound, type InboundOptions } from '../../sidecar/inbound.js';

/** A compiled config from a TrafficPolicy spec (targetRef filled in). */
export function compiled(spec: Record<string, unknown>, version = 1, readyReplicas = 1): CompiledConfig {
  return compiledPolicy({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p', namespace: 't' }, spec: { targetRef: { name: 'app' }, ...spec } }, version, readyReplicas);
}

export function compiledPolicy(doc: unknown, version = 1, readyReplicas = 1): CompiledConfig {
  const r = parsePolicy(doc);
  if (!r.ok) throw new Error(r.error);
  return { version, ...compile(r.value, readyReplicas) };
}

/**
 * An upstream whose requests are held until the test releases them (or answered at once when
 * `hold` says no). It tracks how many it holds at once and the order requests arrived in.
 */
export class Upstream {
  readonly server: Server;
  held: { req: IncomingMessage; res: ServerResponse }[] = [];
  active = 0;
  maxActive = 0;
  arrivals: string[] = [];
  closedEarly = 0;
  hold: (req: IncomingMessage) => boolean = () => true;
  respond: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok');

  private constructor() {
    this.server = createServer((req, res) => {
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      this.arrivals.push(req.url ?? '');
      res.on('close', () => {
        this.active--;
        if (!res.writableFinished) this.closedEarly++;
      });
      if (this.hold(req)) this.held.push({ req, res });
      else this.respond(req, res);
    });
  }

  static async start(): Promise<Upstream> {
    const u = new Upstream();
    await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', r));
    return u;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Answers the n oldest held requests (all by default). */
  release(n = this.held.length): void {
    for (const { req, res } of this.held.splice(0, n)) if (!res.destroyed) this.respond(req, res);
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

export async function startInbound(upstream: string, extra: Partial<InboundOptions> = {}): Promise<{ inbound: Inbound; registry: Registry }> {
  const registry = new Registry();
  const inbound = await Inbound.start({ port: 0, host: '127.0.0.1', upstream, podName: 'pod-0', registry, ...extra });
  return { inbound, registry };
}

/** What each inbound test starts: an upstream and a proxy in front of it. */
export interface ProxyUnderTest {
  up: Upstream;
  inbound: Inbound;
  registry: Registry;
}

export async function startProxyUnderTest(): Promise<ProxyUnderTest> {
  const up = await Upstream.start();
  return { up, ...(await startInbound(up.url)) };
}

/** Closes what a test left open: its client agents, then the proxy, then the upstream. */
export async function closeProxyUnderTest(t: ProxyUnderTest, agents: Agent[]): Promise<void> {
  agents.forEach((a) => a.destroy());
  await t.inbound.close();
  await t.up.close();
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Default: a fresh connection per request. */
  agent?: Agent | false;
}

export function send(port: number, o: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers, agent: o.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', (e) => reject(new Error(`${o.method ?? 'GET'} ${o.path ?? '/'}: ${e.message}`)));
    req.end(o.body);
  });
}

/** Polls until cond() holds; fails after timeoutMs (generous: the machine is shared). */
export async function waitFor(cond: () => boolean, what = 'condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** In-flight and queued of a class, by name, from the data plane's state. */
export function classState(inbound: Inbound, name: string) {
  const c = inbound.state().classes.find((x) => x.name === name);
  if (!c) throw new Error(`no class ${name}`);
  return c;
}

/** The value of one sample in the registry's exposition, or undefined. */
export async function metric(registry: Registry, line: string): Promise<number | undefined> {
  const text = await registry.metrics();
  for (const l of text.split('\n')) if (l.startsWith(line + ' ')) return Number(l.slice(line.length + 1));
  return undefined;
}

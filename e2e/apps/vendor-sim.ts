/**
 * A vendor simulator (SMS/push provider stand-in) for egress tests and scenarios: an HTTP server
 * whose success rate, latency and "hang" (accept, never answer) change at run time, and which
 * records every delivery by idempotency key so a test can assert exactly one per key.
 *
 * In-process: `const a = await VendorSim.start({ name: 'a' }); a.set({ successRate: 0.6 })`.
 * Over HTTP: `GET /_sim` (stats), `POST /_sim` with JSON settings, `POST /_sim/reset`.
 * As a process: `node dist/e2e/apps/vendor-sim.js --port 9001 --name a` (prints `listening <port>`).
 *
 * Outcomes are spread evenly, not drawn at random (an accumulator adds successRate per request
 * and answers 2xx whenever it passes 1), so a rate of 0.6 gives exactly 3 in 5.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';

export interface VendorSettings {
  /** Share of requests answered 2xx (0..1); the rest get failStatus. */
  successRate: number;
  /** Delay before answering, ms. */
  latencyMs: number;
  /** Accept requests and never answer them. */
  hang: boolean;
  /** Answer 200 with the headers and a first chunk, then never finish the body. */
  stallBody: boolean;
  /** Status of a failed answer. */
  failStatus: number;
}

export interface VendorSimOptions extends Partial<VendorSettings> {
  name?: string;
  port?: number;
  /** Header carrying the idempotency key (lower case). */
  keyHeader?: string;
}

export interface SimRequest {
  /** When it arrived (epoch ms). */
  at: number;
  method: string;
  url: string;
  key: string;
  status: number | null;
  bodyBytes: number;
  /** How the body was framed: its Content-Length, 'chunked', or '' for none. */
  framing: string;
}

export interface VendorStats {
  name: string;
  settings: VendorSettings;
  received: number;
  delivered: number;
  failed: number;
  hung: number;
  /** Keys delivered (answered 2xx) more than once. */
  duplicateKeys: string[];
}

const MAX_LOG = 10_000;

export class VendorSim {
  readonly name: string;
  private settings: VendorSettings;
  private acc = 0;
  private readonly keyHeader: string;
  private readonly deliveredByKey = new Map<string, number>();
  private readonly log: SimRequest[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private counts = { received: 0, delivered: 0, failed: 0, hung: 0 };
  private readonly server: Server;

  private constructor(o: VendorSimOptions) {
    this.name = o.name ?? 'vendor';
    this.keyHeader = (o.keyHeader ?? 'idempotency-key').toLowerCase();
    this.settings = { successRate: o.successRate ?? 1, latencyMs: o.latencyMs ?? 0, hang: o.hang ?? false, stallBody: o.stallBody ?? false, failStatus: o.failStatus ?? 500 };
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  static async start(o: VendorSimOptions = {}): Promise<VendorSim> {
    const sim = new VendorSim(o);
    await new Promise<void>((resolve, reject) => {
      sim.server.once('error', reject);
      sim.server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
    });
    return sim;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  set(s: Partial<VendorSettings>): void {
    this.settings = { ...this.settings, ...s };
  }

  /** Times a key was delivered (answered 2xx). */
  deliveries(key: string): number {
    return this.deliveredByKey.get(key) ?? 0;
  }

  /** Every key delivered, with its count. */
  deliveredKeys(): ReadonlyMap<string, number> {
    return this.deliveredByKey;
  }

  requests(): readonly SimRequest[] {
    return this.log;
  }

  /** Connections open to the simulator now (a hung request the caller gave up on is closed). */
  openConnections(): Promise<number> {
    return new Promise((resolve, reject) => this.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  stats(): VendorStats {
    const duplicateKeys = [...this.deliveredByKey].filter(([, n]) => n > 1).map(([k]) => k);
    return { name: this.name, settings: { ...this.settings }, ...this.counts, duplicateKeys };
  }

  reset(): void {
    this.deliveredByKey.clear();
    this.log.length = 0;
    this.counts = { received: 0, delivered: 0, failed: 0, hung: 0 };
    this.acc = 0;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url?.startsWith('/_sim')) this.admin(req, res, body);
      else this.answer(req, res, body.length);
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, bodyBytes: number): void {
    const raw = req.headers[this.keyHeader];
    const key = typeof raw === 'string' ? raw : '';
    const framing = req.headers['content-length'] ?? (req.headers['transfer-encoding'] === 'chunked' ? 'chunked' : '');
    const entry: SimRequest = { at: Date.now(), method: req.method ?? '', url: req.url ?? '', key, status: null, bodyBytes, framing };
    if (this.log.length < MAX_LOG) this.log.push(entry);
    this.counts.received++;
    const s = this.settings;
    if (s.hang) {
      this.counts.hung++;
      return;
    }
    if (s.stallBody) {
      this.counts.hung++;
      res.writeHead(200, { 'content-type': 'application/json', 'x-vendor': this.name });
      res.write('{"ok":');
      return;
    }
    this.acc += s.successRate;
    const ok = this.acc >= 1;
    if (ok) this.acc -= 1;
    const reply = (): void => {
      if (res.destroyed) return;
      entry.status = ok ? 200 : s.failStatus;
      if (ok) {
        this.counts.delivered++;
        if (key !== '') this.deliveredByKey.set(key, (this.deliveredByKey.get(key) ?? 0) + 1);
      } else {
        this.counts.failed++;
      }
      const out = JSON.stringify({ ok, vendor: this.name, key });
      res.writeHead(entry.status, { 'content-type': 'application/json', 'x-vendor': this.name });
      res.end(out);
    };
    if (s.latencyMs <= 0) {
      reply();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      reply();
    }, s.latencyMs);
    this.timers.add(t);
  }

  private admin(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (req.method === 'POST' && req.url === '/_sim/reset') this.reset();
    else if (req.method === 'POST') {
      try {
        this.set(JSON.parse(body.toString('utf8') || '{}') as Partial<VendorSettings>);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"settings must be JSON"}');
        return;
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.stats()));
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sim = await VendorSim.start({ name: arg('name'), port: Number(arg('port') ?? 0), successRate: Number(arg('success-rate') ?? 1) });
  console.log(`listening ${sim.port}`);
  process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
}

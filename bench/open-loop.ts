/**
 * Open-loop load: requests fire on a fixed schedule (rate per second) whether or not earlier
 * ones were answered, as a crowd of independent clients would. Each request takes an idle
 * keep-alive socket or opens a new one (up to maxSockets; past that it is counted `unsent`, which
 * means the generator, not the target, was the limit). Latency is measured from the scheduled
 * time, so a slow target cannot hide queueing (no coordinated omission).
 *
 * HTTP/1.1 is spoken directly on net.Socket with a minimal response parser (status line,
 * content-length or chunked body): node:http's client costs several times more CPU per request,
 * and at thousands of requests per second the generator would measure itself.
 * Run: node dist/bench/open-loop.js '<OpenLoopOptions as JSON>'   (prints OpenLoopResult as JSON)
 */
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface OpenLoopOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  maxSockets?: number;
  /** A request unanswered this long is counted a timeout and its socket closed. */
  timeoutMs?: number;
}

export interface OpenLoopResult {
  rate: number;
  durationMs: number;
  scheduled: number;
  sent: number;
  unsent: number;
  completed: number;
  byStatus: Record<string, number>;
  errors: number;
  /** Why the errors and timeouts happened: `<code or close>/<fresh|reused> socket/<bytes of the answer seen>`. */
  errorKinds: Record<string, number>;
  timeouts: number;
  socketsOpened: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
}

/** The failures of a run in one table cell: non-200 statuses and error kinds with their counts; null when none. */
export function failureSummary(r: OpenLoopResult): string | null {
  const parts = [
    ...Object.entries(r.byStatus)
      .filter(([s]) => s !== '200')
      .map(([s, n]) => `${s}:${n}`),
    ...Object.entries(r.errorKinds).map(([k, n]) => `${k}:${n}`),
    ...(r.unsent > 0 ? [`unsent:${r.unsent}`] : []),
  ];
  return parts.length > 0 ? parts.join(' ') : null;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

class Conn {
  buf: Buffer | null = null;
  scheduledAt = 0;
  busy = false;
  status = 0;
  /** Bytes of body still expected (content-length), or -1 while parsing chunked, or -2 until close. */
  bodyLeft = 0;
  inHeaders = true;
  closeAfter = false;
  /** Requests this socket carried before the current one (0: a fresh connection). */
  served = 0;
  /** When the previous answer on this socket ended (performance.now()). */
  lastDoneAt = 0;
  /** Why the socket failed (an errno code), kept for the 'close' that follows. */
  why = 'close';

  constructor(
    readonly socket: Socket,
    private readonly gen: LoadGenerator,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.why = e.code ?? 'error';
      gen.lost(this, 'error');
    });
    socket.on('close', () => {
      if (this.busy && !this.inHeaders && this.bodyLeft === -2) {
        this.closeAfter = true; // the body ran until close: that was the end of the response
        return this.done();
      }
      gen.lost(this, 'error');
    });
  }

  send(req: Buffer, scheduledAt: number): void {
    this.busy = true;
    this.scheduledAt = scheduledAt;
    this.inHeaders = true;
    this.buf = null;
    this.socket.write(req);
  }

  private onData(d: Buffer): void {
    if (!this.busy) return;
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    if (this.inHeaders) {
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end).toLowerCase();
      this.status = Number(head.slice(9, 12));
      this.closeAfter = head.includes('\r\nconnection: close');
      const cl = head.indexOf('\r\ncontent-length:');
      if (cl >= 0) this.bodyLeft = parseInt(head.slice(cl + 17), 10);
      else if (head.includes('\r\ntransfer-encoding: chunked')) this.bodyLeft = -1;
      else if (this.status === 204 || this.status === 304) this.bodyLeft = 0;
      else this.bodyLeft = -2;
      this.inHeaders = false;
      this.buf = this.buf.subarray(end + 4);
    }
    if (this.bodyLeft >= 0) {
      if (this.buf.length >= this.bodyLeft) this.done();
    } else if (this.bodyLeft === -1 && chunkedComplete(this.buf)) {
      this.done();
    }
  }

  /** A label for an error on this socket: what failed, on a fresh or a reused connection, after how much of the answer. */
  errorKind(): string {
    const seen = this.inHeaders ? (this.buf ? 'partial-head' : 'no-bytes') : 'partial-body';
    const idle = this.served === 0 ? 'fresh' : `reused after ${idleBucket(this.scheduledAt - this.lastDoneAt)}`;
    return `${this.why}/${idle}/${seen}`;
  }

  private done(): void {
    this.served++;
    this.lastDoneAt = performance.now();
    this.busy = false;
    this.buf = null;
    this.gen.answered(this, this.status);
  }
}

function idleBucket(ms: number): string {
  return ms < 1000 ? '<1s' : ms < 4000 ? '1-4s' : ms < 6000 ? '4-6s' : '>=6s';
}

/** Whether a buffer holds a whole chunked body (walks the chunk sizes; bodies here are tiny). */
function chunkedComplete(b: Buffer): boolean {
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i, 'latin1');
    if (eol < 0) return false;
    const size = parseInt(b.toString('latin1', i, eol), 16);
    if (Number.isNaN(size)) return false;
    if (size === 0) return b.indexOf(CRLFCRLF, eol) >= 0; // "0\r\n", optional trailers, "\r\n"
    i = eol + 2 + size + 2;
    if (i > b.length) return false;
  }
}

class LoadGenerator {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly req: Buffer;
  private readonly statuses = new Uint32Array(600);
  private readonly latencies: number[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly maxSockets: number;
  private readonly timeoutMs: number;
  scheduled = 0;
  sent = 0;
  unsent = 0;
  errors = 0;
  readonly errorKinds: Record<string, number> = {};
  timeouts = 0;
  opened = 0;

  constructor(private readonly o: OpenLoopOptions) {
    const u = new URL(o.url);
    this.host = u.hostname;
    this.port = Number(u.port || 80);
    this.maxSockets = o.maxSockets ?? 4000;
    this.timeoutMs = o.timeoutMs ?? 5000;
    const body = Buffer.from(o.body ?? '');
    const headers: Record<string, string> = { host: u.host, ...o.headers };
    if (body.length > 0 || (o.method ?? 'GET') !== 'GET') headers['content-length'] = String(body.length);
    const head =
      `${o.method ?? 'GET'} ${u.pathname}${u.search} HTTP/1.1\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      '\r\n';
    this.req = Buffer.concat([Buffer.from(head, 'latin1'), body]);
  }

  answered(c: Conn, status: number): void {
    this.statuses[status < 600 ? status : 0]++;
    this.latencies.push(performance.now() - c.scheduledAt);
    if (c.closeAfter) this.drop(c);
    else this.idle.push(c);
  }

  lost(c: Conn, why: 'error' | 'timeout'): void {
    if (!this.all.has(c)) return;
    if (c.busy) {
      if (why === 'timeout') {
        this.timeouts++;
        c.why = 'timeout';
      } else this.errors++;
      const k = c.errorKind();
      this.errorKinds[k] = (this.errorKinds[k] ?? 0) + 1;
    }
    this.drop(c);
  }

  private drop(c: Conn): void {
    if (!this.all.delete(c)) return;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    c.socket.destroy();
  }

  private fire(at: number): void {
    this.scheduled++;
    let c = this.idle.pop();
    if (!c) {
      if (this.all.size >= this.maxSockets) {
        this.unsent++;
        return;
      }
      c = new Conn(connect({ host: this.host, port: this.port }), this);
      this.all.add(c);
      this.opened++;
    }
    this.sent++;
    c.send(this.req, at);
  }

  private expire(now: number): void {
    for (const c of this.all) if (c.busy && now - c.scheduledAt > this.timeoutMs) this.lost(c, 'timeout');
  }

  async run(): Promise<OpenLoopResult> {
    const interval = 1000 / this.o.rate;
    const t0 = performance.now();
    const total = Math.floor((this.o.durationMs * this.o.rate) / 1000);
    let lastExpire = t0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        const due = Math.min(total, Math.floor((now - t0) / interval) + 1);
        while (this.scheduled < due) this.fire(t0 + this.scheduled * interval);
        if (now - lastExpire > 100) {
          this.expire(now);
          lastExpire = now;
        }
        if (this.scheduled >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    // Let the last requests be answered (bounded by the timeout).
    const deadline = performance.now() + this.timeoutMs;
    while (performance.now() < deadline && [...this.all].some((c) => c.busy)) {
      await new Promise((r) => setTimeout(r, 20));
      this.expire(performance.now());
    }
    for (const c of [...this.all]) this.lost(c, 'timeout');
    return this.result(performance.now() - t0);
  }

  private result(elapsedMs: number): OpenLoopResult {
    const byStatus: Record<string, number> = {};
    let completed = 0;
    this.statuses.forEach((n, s) => {
      if (n > 0) {
        byStatus[String(s)] = n;
        completed += n;
      }
    });
    const sorted = Float64Array.from(this.latencies).sort();
    const pct = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0);
    return {
      rate: this.o.rate,
      durationMs: this.o.durationMs,
      scheduled: this.scheduled,
      sent: this.sent,
      unsent: this.unsent,
      completed,
      byStatus,
      errors: this.errors,
      errorKinds: this.errorKinds,
      timeouts: this.timeouts,
      socketsOpened: this.opened,
      achievedRate: (completed * 1000) / Math.max(elapsedMs, 1),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
    };
  }
}

export function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  return new LoadGenerator(o).run();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as OpenLoopOptions;
  void runOpenLoop(opts).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}

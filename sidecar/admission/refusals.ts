/**
 * The one table from a refusal reason to the response the client gets, for the inbound HTTP
 * exchange, the upgrade and the egress: status, Retry-After, headers and JSON body. Every
 * response is precomputed per class (or route) when a config is applied — header arrays for
 * node:http (the egress) and the whole raw HTTP/1.1 message (status line, headers, body) for the
 * inbound engine, each for every Retry-After value and with and without `connection: close` — so a
 * refusal allocates nothing and is one write.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { AccessLog } from './access-log.js';
import type { RefusalReason } from './outcomes.js';

export interface RefusalSpec {
  /** 'reject': the class's (or route's) rejectStatus, 503 or 429. */
  status: 'reject' | 502 | 503 | 504 | 413;
  /**
   * Whether the response tells the client when to come back. Only for refusals the sidecar
   * decided (load, a dependency of its own away); not for upstream or vendor failures, whose end
   * it cannot know, nor for a body that will never fit.
   */
  retryAfter: boolean;
  /** The body's `error` field. */
  error: string;
}

export const REFUSAL_TABLE: Readonly<Record<RefusalReason, RefusalSpec>> = {
  capacity: { status: 'reject', retryAfter: true, error: 'overloaded' },
  'load-level': { status: 'reject', retryAfter: true, error: 'overloaded' },
  'queue-timeout': { status: 'reject', retryAfter: true, error: 'overloaded' },
  'upstream-error': { status: 502, retryAfter: false, error: 'upstream-error' },
  'upstream-timeout': { status: 504, retryAfter: false, error: 'upstream-timeout' },
  'dedup-unavailable': { status: 503, retryAfter: true, error: 'unavailable' },
  'defer-unavailable': { status: 503, retryAfter: true, error: 'unavailable' },
  'vendor-unavailable': { status: 502, retryAfter: false, error: 'vendor-unavailable' },
  'vendor-timeout': { status: 504, retryAfter: false, error: 'vendor-timeout' },
  'body-too-large': { status: 413, retryAfter: false, error: 'body-too-large' },
};

/** Retry-After base by load level (seconds); the value sent is jittered ±50%. */
const RETRY_BASE = [1, 2, 4, 8] as const;
export const MAX_RETRY_AFTER = 12;
/** A refused request with a body up to this size is read and discarded (keep-alive kept); larger ones close the connection. */
export const DRAIN_LIMIT = 64 * 1024;

/** Whole seconds, at least 1: base(level) × [0.5, 1.5). Higher levels tell clients to stay away longer. */
export function retryAfterSeconds(level: number, random: number = Math.random()): number {
  const base = RETRY_BASE[level < 0 ? 0 : level > 3 ? 3 : level];
  return Math.min(MAX_RETRY_AFTER, Math.max(1, Math.round(base * (0.5 + random))));
}

/** The body of a refusal: `{"error":…,"class":…,"reason":…}` (class: the class or route name). */
export function refusalBody(name: string, reason: RefusalReason): string {
  return JSON.stringify({ error: REFUSAL_TABLE[reason].error, class: name, reason });
}

type Headers = (string | number)[];
const KEEP = 0;
const CLOSE = 1;

/** One reason's precomputed response for one class: index [KEEP | CLOSE][retryAfter] (retryAfter 0 without Retry-After). */
export class PreparedRefusal {
  readonly status: number;
  readonly retryAfter: boolean;
  readonly body: Buffer;
  readonly headers: Headers[][];
  /** The whole raw message, indexed like headers. */
  readonly raw: Buffer[][];

  constructor(name: string, rejectStatus: number, reason: RefusalReason) {
    const spec = REFUSAL_TABLE[reason];
    const status = spec.status === 'reject' ? rejectStatus : spec.status;
    const body = Buffer.from(refusalBody(name, reason));
    this.status = status;
    this.retryAfter = spec.retryAfter;
    this.body = body;
    const values = spec.retryAfter ? MAX_RETRY_AFTER + 1 : 1;
    const make = (close: boolean, retryAfter: number): Headers => {
      const h: Headers = ['content-type', 'application/json', 'content-length', body.length, 'cache-control', 'no-store'];
      h.push('x-spillway-class', name, 'x-spillway-reason', reason);
      if (spec.retryAfter) h.push('retry-after', retryAfter);
      if (close) h.push('connection', 'close');
      return h;
    };
    this.headers = [false, true].map((close) => Array.from({ length: values }, (_, r) => make(close, r)));
    this.raw = this.headers.map((byRetry) =>
      byRetry.map((h) => {
        let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
        for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
        return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
      }),
    );
  }

  /** The Retry-After value to send at this load level (0: none). */
  retryAfterAt(level: number): number {
    return this.retryAfter ? retryAfterSeconds(level) : 0;
  }

  /** Through node:http. A response already under way cannot be replaced: its connection is cut. */
  send(req: IncomingMessage, res: ServerResponse, level: number): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const close = mustClose(req);
    if (!close) req.resume();
    res.writeHead(this.status, this.headers[close ? CLOSE : KEEP][this.retryAfterAt(level)]);
    res.end(this.body);
  }

  /** The whole message as bytes for one write on a raw socket; `close` adds `connection: close`. */
  bytes(level: number, close: boolean): Buffer {
    return this.raw[close ? CLOSE : KEEP][this.retryAfterAt(level)];
  }
}

/** A body we would have to read in full to keep the connection: too big, or of unknown size. */
function mustClose(req: IncomingMessage): boolean {
  if (req.complete) return false;
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && Number(len) > DRAIN_LIMIT;
}

/**
 * The refusals of one class (or route), built when the config is applied: only the reasons its
 * side can give. Every refusal sent through it is also offered to the access log, if one is on.
 */
export class Refusals<R extends RefusalReason = RefusalReason> {
  private readonly byReason: Record<R, PreparedRefusal>;

  constructor(
    readonly name: string,
    readonly rejectStatus: number,
    reasons: readonly R[],
    private readonly log: AccessLog | null = null,
  ) {
    const byReason = {} as Record<R, PreparedRefusal>;
    for (const r of reasons) byReason[r] = new PreparedRefusal(name, rejectStatus, r);
    this.byReason = byReason;
  }

  get(reason: R): PreparedRefusal {
    return this.byReason[reason];
  }

  send(reason: R, req: IncomingMessage, res: ServerResponse, level: number): void {
    const p = this.byReason[reason];
    if (this.log !== null) this.log.refused(this.name, reason, p.status, req.method, req.url, level);
    p.send(req, res, level);
  }

  /**
   * The preassembled message for a raw-socket writer (one write); call note() too when the
   * refusal is sent, for the access log.
   */
  bytes(reason: R, level: number, close: boolean): Buffer {
    return this.byReason[reason].bytes(level, close);
  }

  /** Offers a refusal sent from bytes() to the access log. */
  note(reason: R, method: string, path: string, level: number): void {
    if (this.log !== null) this.log.refused(this.name, reason, this.byReason[reason].status, method, path, level);
  }
}

/**
 * The one mapping from a refusal (or an upstream failure) to the response the client gets.
 * Everything is precomputed when a config is applied (status, header arrays for each possible
 * Retry-After value, JSON body), so refusing a request allocates nothing beyond the response
 * and never touches the upstream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export type InboundRejectReason = 'capacity' | 'load-level' | 'queue-timeout';
export const REJECT_REASONS: readonly InboundRejectReason[] = ['capacity', 'load-level', 'queue-timeout'];

/** Retry-After base by load level (seconds); the value sent is jittered ±50%. */
const RETRY_BASE = [1, 2, 4, 8] as const;
const MAX_RETRY = 12;
/** A refused request with a body up to this size is read and discarded (keep-alive kept); larger ones close the connection. */
const DRAIN_LIMIT = 64 * 1024;

/** Whole seconds, at least 1: base(level) × [0.5, 1.5). Higher levels tell clients to stay away longer. */
export function retryAfterSeconds(level: number, random: number = Math.random()): number {
  const base = RETRY_BASE[level < 0 ? 0 : level > 3 ? 3 : level];
  return Math.min(MAX_RETRY, Math.max(1, Math.round(base * (0.5 + random))));
}

type Headers = (string | number)[];

/** Precomputed responses of one kind: index [closeConnection ? 1 : 0][retryAfter]. */
class Prepared {
  readonly headers: Headers[][];
  /** Raw HTTP/1.1 responses for upgrade sockets (which have no ServerResponse), same indexing as headers[1]. */
  readonly raw: Buffer[];

  constructor(
    readonly status: number,
    readonly body: Buffer,
    extra: readonly [string, string][],
    retry: boolean,
  ) {
    const make = (close: boolean, retryAfter: number): Headers => {
      const h: Headers = ['content-type', 'application/json', 'content-length', body.length, 'cache-control', 'no-store'];
      for (const [k, v] of extra) h.push(k, v);
      if (retry) h.push('retry-after', retryAfter);
      if (close) h.push('connection', 'close');
      return h;
    };
    this.headers = [0, 1].map((close) => Array.from({ length: MAX_RETRY + 1 }, (_, r) => make(close === 1, r)));
    this.raw = this.headers[1].map((h) => {
      let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
      for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
      return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
    });
  }

  send(req: IncomingMessage, res: ServerResponse, retryAfter: number): void {
    const close = mustClose(req);
    if (!close) req.resume();
    res.writeHead(this.status, this.headers[close ? 1 : 0][retryAfter]);
    res.end(this.body);
  }

  sendRaw(socket: Duplex, retryAfter: number): void {
    socket.end(this.raw[retryAfter]);
  }
}

/** A body we would have to read in full to keep the connection: too big, or of unknown size. */
function mustClose(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && Number(len) > DRAIN_LIMIT;
}

/** The refusals of one class, built when the config is applied. */
export class ClassResponses {
  private readonly byReason: Record<InboundRejectReason, Prepared>;
  private readonly badGateway: Prepared;
  private readonly gatewayTimeout: Prepared;

  constructor(className: string, rejectStatus: number) {
    const cls: [string, string] = ['x-spillway-class', className];
    const reason = (r: InboundRejectReason) =>
      new Prepared(
        rejectStatus,
        Buffer.from(JSON.stringify({ error: 'overloaded', class: className, reason: r })),
        [cls, ['x-spillway-reason', r]],
        true,
      );
    this.byReason = { capacity: reason('capacity'), 'load-level': reason('load-level'), 'queue-timeout': reason('queue-timeout') };
    this.badGateway = new Prepared(502, Buffer.from(JSON.stringify({ error: 'upstream-error', class: className })), [cls], false);
    this.gatewayTimeout = new Prepared(504, Buffer.from(JSON.stringify({ error: 'upstream-timeout', class: className })), [cls], false);
  }

  reject(req: IncomingMessage, res: ServerResponse, reason: InboundRejectReason, level: number): void {
    this.byReason[reason].send(req, res, retryAfterSeconds(level));
  }

  rejectUpgrade(socket: Duplex, reason: InboundRejectReason, level: number): void {
    this.byReason[reason].sendRaw(socket, retryAfterSeconds(level));
  }

  /** 502: the upstream could not be reached or failed before answering. */
  upstreamError(req: IncomingMessage, res: ServerResponse): void {
    this.badGateway.send(req, res, 0);
  }

  upstreamErrorUpgrade(socket: Duplex): void {
    this.badGateway.sendRaw(socket, 0);
  }

  /** 504: the class's timeoutMs passed before the upstream answered. */
  upstreamTimeout(req: IncomingMessage, res: ServerResponse): void {
    this.gatewayTimeout.send(req, res, 0);
  }

  upstreamTimeoutUpgrade(socket: Duplex): void {
    this.gatewayTimeout.sendRaw(socket, 0);
  }
}

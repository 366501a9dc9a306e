/**
 * The one mapping from a refusal (or an upstream failure) to the response the client gets.
 * Everything is precomputed when a config is applied (status, header arrays for each possible
 * Retry-After value, JSON body) as the exact bytes the engine writes, so refusing a request is
 * one write of a preassembled buffer and never touches the upstream.
 */
import { STATUS_CODES } from 'node:http';

export type InboundRejectReason = 'capacity' | 'load-level' | 'queue-timeout';
export const REJECT_REASONS: readonly InboundRejectReason[] = ['capacity', 'load-level', 'queue-timeout'];

/** Retry-After base by load level (seconds); the value sent is jittered ±50%. */
const RETRY_BASE = [1, 2, 4, 8] as const;
const MAX_RETRY = 12;

/** Whole seconds, at least 1: base(level) × [0.5, 1.5). Higher levels tell clients to stay away longer. */
export function retryAfterSeconds(level: number, random: number = Math.random()): number {
  const base = RETRY_BASE[level < 0 ? 0 : level > 3 ? 3 : level];
  return Math.min(MAX_RETRY, Math.max(1, Math.round(base * (0.5 + random))));
}

/** Precomputed responses of one kind, as the bytes written to the socket: index [closeConnection ? 1 : 0][retryAfter]. */
class Prepared {
  readonly raw: Buffer[][];

  constructor(status: number, body: Buffer, extra: readonly [string, string][], retry: boolean) {
    const make = (close: boolean, retryAfter: number): Buffer => {
      let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\ncache-control: no-store\r\n`;
      for (const [k, v] of extra) head += `${k}: ${v}\r\n`;
      if (retry) head += `retry-after: ${retryAfter}\r\n`;
      if (close) head += 'connection: close\r\n';
      return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
    };
    this.raw = [false, true].map((close) => Array.from({ length: retry ? MAX_RETRY + 1 : 1 }, (_, r) => make(close, r)));
  }
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

  /** A refusal; `close`: the connection ends after it. */
  refusal(reason: InboundRejectReason, level: number, close: boolean): Buffer {
    return this.byReason[reason].raw[close ? 1 : 0][retryAfterSeconds(level)];
  }

  /** 502: the upstream could not be reached or failed before answering. */
  upstreamError(close: boolean): Buffer {
    return this.badGateway.raw[close ? 1 : 0][0];
  }

  /** 504: the class's timeoutMs passed before the upstream answered. */
  upstreamTimeout(close: boolean): Buffer {
    return this.gatewayTimeout.raw[close ? 1 : 0][0];
  }
}

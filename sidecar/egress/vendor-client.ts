/**
 * One vendor endpoint, behind the small interface the send path uses whatever the scheme:
 * http:// vendors go through the engine's upstream pool (vendor-http.ts), https:// ones through
 * node:https (vendor-https.ts: TLS dominates the cost there). Each endpoint has ONE timer for the
 * timeouts of all its attempts (every full-length attempt on a vendor gets the same timeout, so
 * deadlines grow in start order; see DeadlineList).
 */
import type { CompiledRoute } from '../../api/config.js';
import { DeadlineList, type DeadlineEntry } from '../deadline-list.js';

export type CompiledVendor = CompiledRoute['vendors'][number];

/** An attempt in a vendor's timeout list. */
export interface TimedAttempt extends DeadlineEntry {
  timedOut(): void;
}

export const FRAME_NONE = 0;
export const FRAME_LENGTH = 1;
export const FRAME_CHUNKED = 2;

/** What one attempt sends. The same object serves every attempt of a send. */
export interface VendorRequest {
  method: string;
  /** The path after the route segment, with its query ("/v1/send?x=1"). */
  path: string;
  /** Flat name/value list of the fields to pass on: no host, no framing fields (the client adds them). */
  fields: string[];
  /** A body kept in memory (sent with Content-Length), or null. */
  body: Buffer | null;
  /** A streamed body's framing (FRAME_NONE: no streamed body); its bytes come through VendorCall.write as the caller framed them. */
  stream: number;
  /** The streamed body's length when FRAME_LENGTH. */
  streamLength: number;
  /** The caller speaks HTTP/1.0: it cannot read chunked framing. */
  dechunk: boolean;
}

/** What an attempt tells its send, in this order: ready (streamed bodies), head, body…, end; or failed at any point. */
export interface VendorListener {
  /** A streamed body may be written now (an attempt whose connection was not at hand at start). */
  vendorReady(): void;
  /** The final response head arrived (interim 1xx are dropped). */
  vendorHead(status: number): void;
  /** Answer body bytes, framed for the caller; false: pause until VendorCall.resume(). */
  vendorBody(b: Buffer): boolean;
  vendorEnd(): void;
  /** No answer, or the answer broke off; `code`: the socket error's code when there was one. */
  vendorFailed(code: string | undefined): void;
  /** The streamed request body may be written again. */
  vendorDrain(): void;
}

/** One attempt on a vendor. */
export interface VendorCall {
  /** A streamed body may be written now (else wait for vendorReady). */
  readonly ready: boolean;
  /** The caller's connection must close after this answer (its body ends when the vendor closes). */
  readonly closeDelimited: boolean;
  /** After vendorHead: the head for the caller, ending with `connection` (a whole field line, or ''). */
  clientHead(connection: string): Buffer;
  /** Streamed request body bytes, framed as the caller sent them; false: wait for vendorDrain. */
  write(b: Buffer): boolean;
  /** The streamed request body is complete. */
  end(): void;
  /** The answer body may flow again. */
  resume(): void;
  /** Drops the attempt and its connection; the listener hears nothing more. */
  abort(): void;
}

export interface VendorTarget {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
  /** Attempts given the vendor's whole timeout (attempts cut short by the caller's budget use their own timer). */
  readonly timeouts: DeadlineList<TimedAttempt>;
  start(req: VendorRequest, listener: VendorListener): VendorCall;
  /** Closes every connection, busy or not. */
  destroy(): void;
  /** No new sends; closes the connections once every attempt on it must have ended (timeout passed). */
  retire(): void;
}

/** What both clients share: the URL's parts and the timeout list. */
export abstract class VendorEndpoint implements VendorTarget {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
  readonly timeouts: DeadlineList<TimedAttempt>;
  /** host[:port] as the URL has it, for the Host field. */
  readonly host: string;
  /** Without brackets (IPv6), for connecting. */
  readonly hostname: string;
  readonly port: number;
  /** The URL's path without a trailing slash ('' for "/"), put before each send's path. */
  readonly basePath: string;

  constructor(v: CompiledVendor, u: URL, defaultPort: number, now: () => number) {
    this.name = v.name;
    this.url = v.url;
    this.timeoutMs = v.timeoutMs;
    this.timeouts = new DeadlineList<TimedAttempt>(now, expire);
    this.hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port ? Number(u.port) : defaultPort;
    this.host = u.host;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  }

  abstract start(req: VendorRequest, listener: VendorListener): VendorCall;
  protected abstract closeAll(): void;

  destroy(): void {
    this.timeouts.dispose();
    this.closeAll();
  }

  retire(): void {
    setTimeout(() => this.destroy(), this.timeoutMs + 1000).unref();
  }
}

function expire(a: TimedAttempt): void {
  a.timedOut();
}

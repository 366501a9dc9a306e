/**
 * An http:// vendor on the engine's upstream leg (http1/upstream.ts): one bounded LIFO keep-alive
 * pool per vendor endpoint, the request head assembled once per attempt and written with a kept
 * body in one go (Content-Length), a streamed body passed on as the caller framed it with
 * back-pressure, and the answer relayed by its own framing. One HttpCall per attempt, no closures.
 */
import { BODY_CHUNKED, BODY_CLOSE, type ResponseHead } from '../http1/head.js';
import { clientResponseHead } from '../http1/rewrite.js';
import { UpstreamPool, type UpstreamConn, type UpstreamUser } from '../http1/upstream.js';
import { FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE, VendorEndpoint, type CompiledVendor, type VendorCall, type VendorListener, type VendorRequest } from './vendor-client.js';

/** Open connections per vendor at most; sends beyond wait in FIFO order (the routes' limits are the real bound). */
const MAX_SOCKETS = 4096;
/** Below Node's default keep-alive timeout (5 s), so the keep-alive race is rare. */
const IDLE_TIMEOUT_MS = 4_000;
/** Methods whose request has a meaning for content: sent with `content-length: 0` when there is none. */
const WITH_CONTENT = new Set(['POST', 'PUT', 'PATCH']);
/** RFC 9110 §9.2.2: a request of these may be sent again after the keep-alive race. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const CRLF = '\r\n';

export class HttpVendor extends VendorEndpoint {
  readonly pool: UpstreamPool;

  constructor(v: CompiledVendor, u: URL, now: () => number) {
    super(v, u, 80, now);
    // Connecting is part of the attempt, bounded by the vendor's timeout (whose timer fires first):
    // a vendor that drops SYNs is a timeout, as it always was, not a transport error.
    this.pool = new UpstreamPool({ host: this.hostname, port: this.port, maxSockets: MAX_SOCKETS, connectTimeoutMs: v.timeoutMs + 1000, idleTimeoutMs: IDLE_TIMEOUT_MS, now });
  }

  start(req: VendorRequest, listener: VendorListener): VendorCall {
    return new HttpCall(this, req, listener);
  }

  /** The request head for one attempt. */
  requestHead(r: VendorRequest): Buffer {
    let s = `${r.method} ${this.basePath}${r.path} HTTP/1.1${CRLF}host: ${this.host}${CRLF}`;
    const f = r.fields;
    for (let i = 0; i < f.length; i += 2) s += `${f[i]}: ${f[i + 1]}${CRLF}`;
    if (r.body !== null) s += `content-length: ${r.body.length}${CRLF}`;
    else if (r.stream === FRAME_LENGTH) s += `content-length: ${r.streamLength}${CRLF}`;
    else if (r.stream === FRAME_CHUNKED) s += `transfer-encoding: chunked${CRLF}`;
    else if (WITH_CONTENT.has(r.method)) s += `content-length: 0${CRLF}`;
    return Buffer.from(s + CRLF, 'latin1');
  }

  protected closeAll(): void {
    this.pool.destroy();
  }
}

class HttpCall implements VendorCall, UpstreamUser {
  ready = false;
  private up: UpstreamConn | null = null;
  private waitingForConn = false;
  private head: ResponseHead | null = null;
  /** The whole request went out (a kept body at once; a streamed one at end()). */
  private sent = false;
  private raced = false;
  private aborted = false;

  constructor(
    private readonly vendor: HttpVendor,
    private readonly req: VendorRequest,
    private readonly listener: VendorListener,
  ) {
    const up = vendor.pool.acquire(this);
    if (up === null) this.waitingForConn = true;
    else this.send(up);
  }

  get closeDelimited(): boolean {
    const h = this.head as ResponseHead;
    return h.bodyKind === BODY_CLOSE || (this.req.dechunk && h.bodyKind === BODY_CHUNKED);
  }

  clientHead(connection: string): Buffer {
    return clientResponseHead(this.head as ResponseHead, this.req.dechunk, connection);
  }

  upstreamReady(conn: UpstreamConn): void {
    this.waitingForConn = false;
    if (this.aborted) {
      conn.pool.release(conn, true);
      return;
    }
    this.send(conn);
    if (this.req.stream !== FRAME_NONE) this.listener.vendorReady();
  }

  /** Head and kept body in one write; a streamed body follows through write(). */
  private send(up: UpstreamConn): void {
    const r = this.req;
    this.up = up;
    up.expect(r.method === 'HEAD', false, r.dechunk);
    const s = up.socket;
    const head = this.vendor.requestHead(r);
    if (r.body === null) s.write(head);
    else {
      s.cork();
      s.write(head);
      s.write(r.body);
      s.uncork();
    }
    this.sent = r.stream === FRAME_NONE;
    this.ready = true;
  }

  write(b: Buffer): boolean {
    return (this.up as UpstreamConn).socket.write(b);
  }

  end(): void {
    this.sent = true;
  }

  requestSent(): boolean {
    return this.sent;
  }

  resume(): void {
    this.up?.resume();
  }

  abort(): void {
    this.aborted = true;
    if (this.waitingForConn) {
      this.vendor.pool.cancel(this);
      this.waitingForConn = false;
    }
    const up = this.up;
    this.up = null;
    if (up !== null) up.abort();
  }

  upstreamInterim(): void {
    // 1xx before the answer: the sender waits for the final one.
  }

  upstreamHead(r: ResponseHead): void {
    this.head = r;
    this.listener.vendorHead(r.status);
  }

  upstreamBody(b: Buffer): boolean {
    return this.listener.vendorBody(b);
  }

  upstreamEnd(): void {
    this.up = null;
    this.listener.vendorEnd();
  }

  upstreamDrain(): void {
    this.listener.vendorDrain();
  }

  upstreamUpgraded(): void {
    // Never asked for (expect(…, false, …)): the engine refuses a 101 then.
  }

  upstreamFailed(retryable: boolean): void {
    const up = this.up;
    this.up = null;
    if (this.aborted) return;
    const r = this.req;
    // The keep-alive race: the vendor closed an idle connection as we reused it. Sent again only
    // when nothing can have been acted on twice: an idempotent method and no streamed body.
    if (retryable && !this.raced && r.stream === FRAME_NONE && IDEMPOTENT.has(r.method)) {
      this.raced = true;
      this.send(this.vendor.pool.acquire(this, true) as UpstreamConn);
      return;
    }
    this.listener.vendorFailed(up?.errorCode);
  }
}

/**
 * One request through the inbound pipeline after classification: it waits for its class
 * permit (or is refused), is forwarded on the engine's upstream pool, and its response relayed
 * with back-pressure both ways; an upgrade becomes a raw session after the 101. finish() is the
 * only place the permit is released, and it runs at most once. One object per request, no
 * closures: the engine calls its methods (Exchange, UpstreamUser, Waiter, TimedRequest).
 */
import type { Socket } from 'node:net';
import { O_ABORTED, O_ERROR, O_QUEUE_TIMEOUT, O_SUCCESS, O_TIMEOUT, O_UPSTREAM_ERROR, type ClassRuntime, type TimedRequest } from './class-runtime.js';
import type { DeadlineEntry } from './deadline-list.js';
import { BODY_CHUNKED, BODY_CLOSE, BODY_NONE, type RequestHead, type ResponseHead } from './http1/head.js';
import { clientResponseHead, switchingProtocolsHead, upstreamRequestHead } from './http1/rewrite.js';
import { REFUSALS, type Exchange, type ServerConn } from './http1/server.js';
import type { UpstreamConn, UpstreamPool, UpstreamUser } from './http1/upstream.js';
import type { Waiter } from './limiter.js';
import type { InboundRejectReason } from './reject.js';
import type { Sessions } from './websocket.js';

/** What an exchange needs from the inbound data plane. */
export interface ExchangeHost {
  readonly pool: UpstreamPool;
  readonly sessions: Sessions;
  readonly defaultHost: string;
  /** Current load level (sent upstream as x-spillway-load-level and used for Retry-After). */
  level: number;
  now(): number;
}

const QUEUED = 0;
const ACTIVE = 1;
const DONE = 2;

const CONNECTION_CLOSE = 'connection: close\r\n';
const CONNECTION_KEEP_ALIVE = 'connection: keep-alive\r\n';

export class InboundExchange implements Exchange, UpstreamUser, Waiter, TimedRequest {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlOwner: object | null = null;
  deadline = 0;
  private state = QUEUED;
  private up: UpstreamConn | null = null;
  /** Waiting in the pool's queue for a connection. */
  private waitingForConn = false;
  private status = 0;
  /** The response head went to the client: a failure now can only cut the connection. */
  private responding = false;
  private retried = false;
  private dechunk = false;
  private upHead: Buffer | null = null;
  private readonly start: number;

  constructor(
    private readonly host: ExchangeHost,
    private readonly conn: ServerConn,
    private readonly head: RequestHead,
    readonly cls: ClassRuntime,
  ) {
    this.start = host.now();
    conn.bind(this);
  }

  /** A queued request got its permit. */
  admitted(): void {
    this.forward();
  }

  /** Called with the permit taken. */
  forward(): void {
    this.state = ACTIVE;
    const cls = this.cls;
    const host = this.host;
    if (cls.timeoutMs > 0) cls.timeouts.push(this, host.now() + cls.timeoutMs);
    const head = this.head;
    this.upHead = upstreamRequestHead(head, { clientAddress: this.conn.remoteAddress, className: cls.name, loadLevel: host.level, defaultHost: host.defaultHost });
    // An HTTP/1.0 client cannot read chunked framing: it gets the data, delimited by close.
    this.dechunk = head.minor === 0;
    const up = head.upgrade ? host.pool.dedicated(this) : host.pool.acquire(this);
    if (up === null) this.waitingForConn = true;
    else this.send(up);
  }

  upstreamReady(conn: UpstreamConn): void {
    this.waitingForConn = false;
    if (this.state !== ACTIVE) {
      conn.pool.release(conn, true);
      return;
    }
    this.send(conn);
  }

  /** Writes the head and whatever body is already here in one go, then lets the body flow. */
  private send(up: UpstreamConn): void {
    this.up = up;
    up.expect(this.head.method === 'HEAD', this.head.upgrade, this.dechunk);
    const s = up.socket;
    s.cork();
    s.write(this.upHead as Buffer);
    if (this.head.bodyKind !== BODY_NONE) this.conn.startBody();
    s.uncork();
  }

  requestBody(b: Buffer): boolean {
    return (this.up as UpstreamConn).socket.write(b);
  }

  requestBodyEnd(): void {
    // Nothing to do: the framing is forwarded as it came, its end included.
  }

  requestSent(): boolean {
    return this.conn.requestComplete;
  }

  upstreamDrain(): void {
    this.conn.resumeBody();
  }

  requestBodyInvalid(): void {
    if (this.state !== ACTIVE) return;
    this.finish(O_ABORTED);
    this.dropUpstream();
    if (this.responding) this.conn.destroy();
    else this.conn.respond(REFUSALS[400], true);
  }

  upstreamInterim(r: ResponseHead): void {
    // 1xx (100 Continue, 103 Early Hints) mean nothing to an HTTP/1.0 client.
    if (this.head.minor === 1) this.conn.socket.write(clientResponseHead(r, false, ''));
  }

  upstreamHead(r: ResponseHead): void {
    const conn = this.conn;
    this.status = r.status;
    this.responding = true;
    // The client connection survives a body delimited by close only if it is re-framed; it is not: close after.
    const toClient = this.dechunk && r.bodyKind === BODY_CHUNKED ? BODY_CLOSE : r.bodyKind;
    if (toClient === BODY_CLOSE || this.head.upgrade) conn.closeAfter = true;
    const keep = conn.keepAliveAfterResponse();
    const connection = !keep ? CONNECTION_CLOSE : this.head.minor === 0 ? CONNECTION_KEEP_ALIVE : '';
    const s = conn.socket;
    // Head and the first body bytes leave in one write.
    s.cork();
    process.nextTick(uncork, s);
    s.write(clientResponseHead(r, this.dechunk, connection));
  }

  upstreamBody(b: Buffer): boolean {
    return this.conn.socket.write(b);
  }

  clientDrain(): void {
    this.up?.resume();
  }

  upstreamEnd(): void {
    this.up = null;
    if (this.state !== ACTIVE) return;
    this.finish(this.status >= 500 ? O_ERROR : O_SUCCESS);
    this.conn.responseEnd();
  }

  upstreamFailed(retryable: boolean): void {
    this.up = null;
    if (this.state !== ACTIVE) return;
    // The keep-alive race: the app closed an idle connection as we reused it. Sending again is
    // safe only if nothing of the request can have been acted on twice: an idempotent method, no body.
    if (retryable && !this.retried && this.head.bodyKind === BODY_NONE && IDEMPOTENT.has(this.head.method)) {
      this.retried = true;
      const up = this.host.pool.acquire(this, true) as UpstreamConn;
      this.send(up);
      return;
    }
    this.finish(O_UPSTREAM_ERROR);
    if (this.responding) this.conn.destroy();
    else {
      const close = !this.conn.keepAliveAfterResponse();
      this.conn.respond(this.cls.responses.upstreamError(close), close);
    }
  }

  upstreamUpgraded(r: ResponseHead, socket: Socket, rest: Buffer): void {
    this.up = null;
    const conn = this.conn;
    if (this.state !== ACTIVE || conn.socket.destroyed) {
      socket.destroy();
      return;
    }
    this.finish(O_SUCCESS);
    const client = conn.socket;
    const early = conn.detach();
    client.cork();
    client.write(switchingProtocolsHead(r));
    if (rest.length > 0) client.write(rest);
    client.uncork();
    if (early !== null) socket.write(early);
    this.host.sessions.open(client, socket);
  }

  queueTimedOut(): void {
    this.state = DONE;
    this.cls.counts[O_QUEUE_TIMEOUT]++;
    refuse(this.conn, this.head, this.cls, 'queue-timeout', this.host.level);
  }

  upstreamTimedOut(): void {
    if (this.state !== ACTIVE) return;
    this.finish(O_TIMEOUT);
    this.dropUpstream();
    if (this.responding) this.conn.destroy();
    else {
      const close = !this.conn.keepAliveAfterResponse();
      this.conn.respond(this.cls.responses.upstreamTimeout(close), close);
    }
  }

  clientClosed(): void {
    if (this.state === QUEUED) {
      this.cls.limiter.cancel(this);
      this.state = DONE;
      this.cls.counts[O_ABORTED]++;
    } else if (this.state === ACTIVE) {
      this.finish(O_ABORTED);
      this.dropUpstream();
    }
  }

  private dropUpstream(): void {
    if (this.waitingForConn) {
      this.host.pool.cancel(this);
      this.waitingForConn = false;
    }
    const up = this.up;
    this.up = null;
    if (up !== null) up.abort();
  }

  private finish(outcome: number): void {
    this.state = DONE;
    this.cls.ended(this, outcome, this.host.now() - this.start);
  }
}

/** A refusal in one write of preassembled bytes; the connection stays open when the request body is read or cheap to discard (an upgrade's never does). */
export function refuse(conn: ServerConn, head: RequestHead, cls: ClassRuntime, reason: InboundRejectReason, level: number): void {
  const close = head.upgrade || !conn.keepAliveAfterResponse();
  conn.respond(cls.responses.refusal(reason, level, close), close);
}

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

function uncork(s: Socket): void {
  s.uncork();
}

/**
 * One request through the inbound pipeline after classification, holding its class permit
 * (admission/permit.ts): forwarded on the engine's upstream pool once admitted, its response
 * relayed with back-pressure both ways; an upgrade becomes a raw session after the 101.
 * end(outcome) is the only release of the slot. One object per request, no closures: the engine
 * calls its methods (Exchange, UpstreamUser; the limiter and the timeout list call Permit's).
 */
import type { Socket } from 'node:net';
import { O_ABORTED, O_ERROR, O_SUCCESS, O_UPSTREAM_ERROR, outcomeName, type InboundRefusal, type OutcomeCode } from './admission/outcomes.js';
import { Permit } from './admission/permit.js';
import type { AccessLog } from './admission/access-log.js';
import type { ClassRuntime } from './class-runtime.js';
import { BODY_CHUNKED, BODY_CLOSE, BODY_NONE, type RequestHead, type ResponseHead } from './http1/head.js';
import { clientResponseHead, switchingProtocolsHead, upstreamRequestHead } from './http1/rewrite.js';
import { REFUSALS, type Exchange, type ServerConn } from './http1/server.js';
import type { UpstreamConn, UpstreamPool, UpstreamUser } from './http1/upstream.js';
import type { Sessions } from './websocket.js';

/** What an exchange needs from the inbound data plane. */
export interface ExchangeHost {
  readonly pool: UpstreamPool;
  readonly sessions: Sessions;
  readonly defaultHost: string;
  /** The access log when it writes end lines, else null. */
  readonly endLog: AccessLog | null;
  /** Current load level (sent upstream as x-spillway-load-level and used for Retry-After). */
  level: number;
}


export class InboundExchange extends Permit<ClassRuntime> implements Exchange, UpstreamUser {
  private up: UpstreamConn | null = null;
  /** Waiting in the pool's queue for a connection. */
  private waitingForConn = false;
  private status = 0;
  /** The response head went to the client: a failure now can only cut the connection. */
  private responding = false;
  private retried = false;
  private dechunk = false;
  private upHead: Buffer | null = null;

  constructor(
    private readonly host: ExchangeHost,
    private readonly conn: ServerConn,
    private readonly head: RequestHead,
    cls: ClassRuntime,
  ) {
    super(cls);
    conn.bind(this);
  }

  /** Holds a slot: send the request upstream (an upgrade on a connection of its own). */
  protected forward(): void {
    const host = this.host;
    const head = this.head;
    this.upHead = upstreamRequestHead(head, { clientAddress: this.conn.remoteAddress, className: this.budget.name, loadLevel: host.level, defaultHost: host.defaultHost });
    // An HTTP/1.0 client cannot read chunked framing: it gets the data, delimited by close.
    this.dechunk = head.minor === 0;
    const up = head.upgrade ? host.pool.dedicated(this) : host.pool.acquire(this);
    if (up === null) this.waitingForConn = true;
    else this.send(up);
  }

  upstreamReady(conn: UpstreamConn): void {
    this.waitingForConn = false;
    if (!this.active) {
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
    if (!this.end(O_ABORTED)) return;
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
    // A body delimited by close (or de-chunked for HTTP/1.0) is not re-framed: the client connection closes after it.
    const toClient = this.dechunk && r.bodyKind === BODY_CHUNKED ? BODY_CLOSE : r.bodyKind;
    if (toClient === BODY_CLOSE || this.head.upgrade) conn.closeAfter = true;
    const connection = conn.connectionFields();
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
    if (this.end(this.status >= 500 ? O_ERROR : O_SUCCESS)) this.conn.responseEnd();
  }

  upstreamFailed(retryable: boolean): void {
    this.up = null;
    if (!this.active) return;
    // The keep-alive race: the app closed an idle connection as we reused it. Sending again is
    // safe only if nothing of the request can have been acted on twice: an idempotent method, no body.
    if (retryable && !this.retried && this.head.bodyKind === BODY_NONE && IDEMPOTENT.has(this.head.method)) {
      this.retried = true;
      this.send(this.host.pool.acquire(this, true) as UpstreamConn);
      return;
    }
    this.end(O_UPSTREAM_ERROR);
    this.fail('upstream-error');
  }

  upstreamUpgraded(r: ResponseHead, socket: Socket, rest: Buffer): void {
    this.up = null;
    const conn = this.conn;
    if (!this.active || conn.socket.destroyed) {
      socket.destroy();
      return;
    }
    this.status = 101;
    this.end(O_SUCCESS);
    const client = conn.socket;
    const early = conn.detach();
    client.cork();
    client.write(switchingProtocolsHead(r));
    if (rest.length > 0) client.write(rest);
    client.uncork();
    if (early !== null) socket.write(early);
    this.host.sessions.open(client, socket);
  }

  protected refuseQueued(reason: 'queue-timeout' | 'capacity'): void {
    refuse(this.conn, this.head, this.budget, reason, this.host.level);
  }

  protected timedOut(): void {
    this.dropUpstream();
    this.fail('upstream-timeout');
  }

  clientClosed(): void {
    if (!this.clientLeft()) return;
    this.end(O_ABORTED);
    this.dropUpstream();
  }

  protected override ended(outcome: OutcomeCode): void {
    const log = this.host.endLog;
    if (log !== null) log.ended(this.budget.name, outcomeName(outcome), this.status, this.head.method, this.head.target, this.host.level, this.budget.now() - this.start);
  }

  /** After end(): the refusal if nothing was answered yet, else the client connection is cut. */
  private fail(reason: InboundRefusal): void {
    if (this.responding) this.conn.destroy();
    else refuse(this.conn, this.head, this.budget, reason, this.host.level);
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
}

/**
 * A refusal in one write of the class's preassembled bytes; the connection stays open when the
 * request body is read or cheap to discard (an upgrade's never does).
 */
export function refuse(conn: ServerConn, head: RequestHead, cls: ClassRuntime, reason: InboundRefusal, level: number): void {
  const close = head.upgrade || !conn.keepAliveAfterResponse();
  const refusals = cls.refusals;
  refusals.note(reason, head.method, head.target, level);
  conn.respond(refusals.bytes(reason, level, close), close);
}

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

function uncork(s: Socket): void {
  s.uncork();
}

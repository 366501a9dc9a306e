/**
 * The upstream leg: a bounded keep-alive pool of raw connections to the app (LIFO, so the
 * warmest connection is reused and surplus ones age out), with a connect timeout and an idle
 * timeout, and the response side of each exchange: a strict status-line/field parser, then the
 * body relayed by its framing (Content-Length, chunked with trailers, or until close) with
 * back-pressure. One UpstreamConn object per connection, its socket listeners shared module
 * functions, so a request allocates no closures.
 */
import { connect, type Socket } from 'node:net';
import { DeadlineList, type DeadlineEntry } from '../deadline-list.js';
import { ChunkedDecoder, type ChunkDataSink } from './chunked.js';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE, ResponseHead } from './head.js';

/** Longest response head accepted from the app. */
const MAX_RESPONSE_HEAD = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const LIMITS = { maxHeaderCount: 256 };

/** The exchange a connection serves. */
export interface UpstreamUser {
  /** A connection freed up for a request that waited in the pool's queue. */
  upstreamReady(conn: UpstreamConn): void;
  /** An interim 1xx (not 101): relay it and wait for the final head. */
  upstreamInterim(r: ResponseHead): void;
  /** The final response head; the body (if any) follows in upstreamBody. */
  upstreamHead(r: ResponseHead): void;
  /** Body bytes as they came (or de-chunked data); false to pause the upstream until resume(). */
  upstreamBody(b: Buffer): boolean;
  /** The whole request went out (only then can the connection carry another). */
  requestSent(): boolean;
  /** The response is complete (the connection is back in the pool or closed). */
  upstreamEnd(): void;
  /** The upstream switched protocols: the socket is the caller's now, `rest` the bytes already read after the 101 head. */
  upstreamUpgraded(r: ResponseHead, socket: Socket, rest: Buffer): void;
  /**
   * The connection failed or sent something unrelayable. `retryable`: a reused connection died
   * before any byte of the answer (the keep-alive race), so the request may be sent again.
   */
  upstreamFailed(retryable: boolean): void;
  /** The request body may be written again (the socket drained). */
  upstreamDrain(): void;
}

export interface PoolOptions {
  host: string;
  port: number;
  /** Open connections at most (busy, idle and connecting); requests beyond wait in FIFO order. */
  maxSockets: number;
  connectTimeoutMs: number;
  /** An idle pooled connection is closed after this (below the app's keep-alive timeout, to make the race rare). */
  idleTimeoutMs: number;
  now: () => number;
}

const C_CONNECTING = 0;
const C_IDLE = 1;
const C_HEAD = 2;
const C_BODY = 3;
const C_CLOSED = 4;

const kConn = Symbol('spillway.upstream');
type ConnSocket = Socket & { [kConn]: UpstreamConn };

export class UpstreamConn implements DeadlineEntry, ChunkDataSink {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlOwner: object | null = null;
  deadline = 0;
  state = C_CONNECTING;
  user: UpstreamUser | null = null;
  /** Served a request before: a failure before any answer byte may be the keep-alive race. */
  reused = false;
  /** Any byte of the current answer arrived. */
  answered = false;
  /** The code of the socket's last error (ECONNREFUSED…): the egress fails over at once when a vendor cannot be reached. */
  errorCode: string | undefined = undefined;
  private headRequest = false;
  private upgradeRequest = false;
  private dechunk = false;
  private pending: Buffer | null = null;
  /** Paused for the client's back-pressure (the exchange resumes it on the client's drain). */
  private paused = false;
  private remaining = 0;
  private bodyKind = BODY_NONE;
  private keepAlive = false;
  readonly response = new ResponseHead();
  private readonly chunked = new ChunkedDecoder(MAX_RESPONSE_HEAD);

  constructor(
    readonly pool: UpstreamPool,
    readonly socket: Socket,
    /** Counted against the pool's bound (upgrades are not: a session holds no pool slot). */
    readonly pooled: boolean,
  ) {
    (socket as ConnSocket)[kConn] = this;
    socket.setNoDelay(true);
    socket.on('connect', onConnect);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('drain', onDrain);
    socket.on('error', onError);
  }

  /** Binds the next exchange (the pool does this). */
  attach(user: UpstreamUser): void {
    this.user = user;
    this.answered = false;
    if (this.state === C_IDLE) this.state = C_HEAD;
  }

  /**
   * What the answer to the request about to be written looks like: no body after HEAD; a 101 only
   * for an upgrade; `dechunk`: hand over chunked data without its framing (an HTTP/1.0 client).
   */
  expect(headRequest: boolean, upgradeRequest: boolean, dechunk: boolean): void {
    this.headRequest = headRequest;
    this.upgradeRequest = upgradeRequest;
    this.dechunk = dechunk;
  }

  /** The exchange gives up on this connection (timeout, client gone, bad request body): it is closed, never reused. */
  abort(): void {
    this.user = null;
    this.close();
  }

  /** The client cannot take more: stop reading until the exchange resumes (or the response ends). */
  private pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
  }

  /** Response bytes: head first (interim heads relayed), then the body by its framing. */
  received(chunk: Buffer): void {
    const user = this.user;
    if (user === null || this.state === C_IDLE) {
      // Nothing is owed on an idle connection: bytes here mean it cannot be trusted.
      this.close();
      return;
    }
    this.answered = true;
    let b = chunk;
    let i = 0;
    while (this.state === C_HEAD) {
      if (this.pending !== null) {
        b = Buffer.concat([this.pending, b.subarray(i)]);
        i = 0;
        this.pending = null;
      }
      const at = b.indexOf(CRLFCRLF, i);
      if (at < 0) {
        if (b.length - i > MAX_RESPONSE_HEAD) return this.fail();
        this.pending = b.subarray(i);
        return;
      }
      const end = at + 4;
      const r = this.response;
      if (end - i > MAX_RESPONSE_HEAD || r.parse(b, i, end, this.headRequest, LIMITS) !== 0) return this.fail();
      i = end;
      if (r.status === 101) {
        if (!this.upgradeRequest) return this.fail();
        this.handOver(r, b.subarray(i));
        return;
      }
      if (r.status < 200) {
        user.upstreamInterim(r);
        if (this.user !== user) return;
        continue;
      }
      this.bodyKind = r.bodyKind;
      this.keepAlive = r.keepAlive;
      this.remaining = r.contentLength;
      if (r.bodyKind === BODY_CHUNKED) this.chunked.reset(this.dechunk ? this : null);
      this.state = C_BODY;
      user.upstreamHead(r);
      if (this.user !== user) return;
      if (r.bodyKind === BODY_NONE) return this.complete(i < b.length);
    }
    if (i < b.length) this.body(b, i);
  }

  /** De-chunked data for an HTTP/1.0 client. */
  chunkData(b: Buffer, s: number, e: number): void {
    if (e > s && this.user !== null && !this.user.upstreamBody(b.subarray(s, e))) this.pause();
  }

  private body(b: Buffer, i: number): void {
    const user = this.user as UpstreamUser;
    switch (this.bodyKind) {
      case BODY_LENGTH: {
        const n = Math.min(this.remaining, b.length - i);
        this.remaining -= n;
        if (!user.upstreamBody(i === 0 && n === b.length ? b : b.subarray(i, i + n))) this.pause();
        if (this.remaining === 0 && this.user === user) this.complete(i + n < b.length);
        return;
      }
      case BODY_CHUNKED: {
        const end = this.chunked.feed(b, i, b.length);
        if (end < 0) return this.fail();
        if (!this.dechunk && end > i && !user.upstreamBody(i === 0 && end === b.length ? b : b.subarray(i, end))) this.pause();
        if (this.chunked.done && this.user === user) this.complete(end < b.length);
        return;
      }
      case BODY_CLOSE:
        if (!user.upstreamBody(i === 0 ? b : b.subarray(i))) this.pause();
        return;
    }
  }

  /** The response ended by its framing; `extra`: the app sent more than one answer. */
  private complete(extra: boolean): void {
    const user = this.user as UpstreamUser;
    this.user = null;
    this.state = C_HEAD;
    // The last body write may have met back-pressure: the exchange ends now, so no client drain
    // will resume this socket. A paused socket in the pool reads the next answer into a buffer
    // nobody empties (the request hangs), so it reads again before it is offered to anyone.
    if (this.paused) this.resume();
    // Released before the exchange hears of the end, so the client's next request can reuse it.
    this.pool.release(this, this.keepAlive && !extra && user.requestSent());
    user.upstreamEnd();
  }

  private handOver(r: ResponseHead, rest: Buffer): void {
    const user = this.user as UpstreamUser;
    this.user = null;
    this.state = C_CLOSED;
    const s = this.socket;
    s.removeListener('connect', onConnect);
    s.removeListener('data', onData);
    s.removeListener('close', onClose);
    s.removeListener('drain', onDrain);
    s.removeListener('error', onError);
    delete (s as Partial<ConnSocket>)[kConn];
    this.pool.forget(this);
    user.upstreamUpgraded(r, s, rest);
  }

  /** Invalid answer or dead connection while an exchange is bound. */
  fail(): void {
    const user = this.user;
    const retryable = this.reused && !this.answered && this.state === C_HEAD;
    this.user = null;
    this.close();
    if (user !== null) user.upstreamFailed(retryable);
  }

  /** The socket closed: a close-delimited body ends here; anything else in progress failed. */
  closed(): void {
    if (this.state === C_BODY && this.bodyKind === BODY_CLOSE && this.user !== null) {
      const user = this.user;
      this.user = null;
      this.close();
      user.upstreamEnd();
      return;
    }
    if (this.user !== null) this.fail();
    else this.close();
  }

  connected(): void {
    this.pool.connecting.remove(this);
    if (this.state === C_CONNECTING) this.state = this.user === null ? C_IDLE : C_HEAD;
  }

  drained(): void {
    this.user?.upstreamDrain();
  }

  /** Closes the socket (idempotent) and gives the slot back to the pool. */
  close(): void {
    if (this.state === C_CLOSED) return;
    this.state = C_CLOSED;
    this.pending = null;
    this.socket.destroy();
    this.pool.closed(this);
  }

  connectTimedOut(): void {
    if (this.state === C_CONNECTING) this.fail();
  }

  idleTimedOut(): void {
    if (this.state === C_IDLE) this.close();
  }

  get idle(): boolean {
    return this.state === C_IDLE;
  }
}

function onConnect(this: ConnSocket): void {
  this[kConn].connected();
}
function onData(this: ConnSocket, chunk: Buffer): void {
  this[kConn].received(chunk);
}
function onClose(this: ConnSocket): void {
  this[kConn].closed();
}
function onDrain(this: ConnSocket): void {
  this[kConn].drained();
}
function onError(this: ConnSocket, err: NodeJS.ErrnoException): void {
  // Socket errors end in 'close', which is handled; the code is kept for the user to read.
  this[kConn].errorCode = err.code;
}

export class UpstreamPool {
  private maxSockets: number;
  /** Open pooled connections (connecting, busy and idle). */
  open = 0;
  private readonly idleConns: UpstreamConn[] = [];
  /** Exchanges waiting for a connection, FIFO. */
  private readonly waiters: UpstreamUser[] = [];
  readonly connecting: DeadlineList<UpstreamConn>;
  private readonly idleList: DeadlineList<UpstreamConn>;
  private closing = false;

  constructor(private readonly opts: PoolOptions) {
    this.maxSockets = opts.maxSockets;
    this.connecting = new DeadlineList<UpstreamConn>(opts.now, connectExpired);
    this.idleList = new DeadlineList<UpstreamConn>(opts.now, idleExpired);
  }

  /** A new bound (a config's budgets changed); waiters get the room a larger one makes. */
  setMaxSockets(n: number): void {
    this.maxSockets = n;
    while (this.open < n && this.waiters.length > 0 && !this.closing) {
      const next = this.waiters.shift() as UpstreamUser;
      next.upstreamReady(this.connectFor(next, true));
    }
  }

  /**
   * A connection for `user` (bound to it), or null when the pool is at its bound: then the user
   * waits and gets upstreamReady() in arrival order. `fresh`: never an idle one (the retry after
   * the keep-alive race).
   */
  acquire(user: UpstreamUser, fresh = false): UpstreamConn | null {
    if (!fresh) {
      const c = this.idleConns.pop();
      if (c !== undefined) {
        this.idleList.remove(c);
        c.attach(user);
        return c;
      }
    }
    if (this.open >= this.maxSockets && !fresh) {
      this.waiters.push(user);
      return null;
    }
    return this.connectFor(user, true);
  }

  /** A connection outside the bound, never reused (an upgrade: the session keeps the socket). */
  dedicated(user: UpstreamUser): UpstreamConn {
    return this.connectFor(user, false);
  }

  /** A waiting user gave up. */
  cancel(user: UpstreamUser): void {
    const i = this.waiters.indexOf(user);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** An exchange is done with its connection. */
  release(c: UpstreamConn, reusable: boolean): void {
    if (!reusable || this.closing || !c.pooled || c.state === C_CLOSED) {
      c.close();
      return;
    }
    c.reused = true;
    const next = this.waiters.shift();
    if (next !== undefined) {
      c.attach(next);
      next.upstreamReady(c);
      return;
    }
    c.state = C_IDLE;
    this.idleConns.push(c);
    this.idleList.push(c, this.opts.now() + this.opts.idleTimeoutMs);
  }

  /** Bookkeeping when a connection closed. */
  closed(c: UpstreamConn): void {
    this.connecting.remove(c);
    this.idleList.remove(c);
    const i = this.idleConns.indexOf(c);
    if (i >= 0) this.idleConns.splice(i, 1);
    if (!c.pooled) return;
    this.open--;
    const next = this.waiters.shift();
    if (next !== undefined && !this.closing) next.upstreamReady(this.connectFor(next, true));
  }

  /** A connection handed over to an upgraded session. */
  forget(c: UpstreamConn): void {
    this.connecting.remove(c);
    if (c.pooled) this.open--;
  }

  /** Closes the idle connections and stops pooling. */
  destroy(): void {
    this.closing = true;
    for (const c of this.idleConns.splice(0)) c.close();
    this.connecting.dispose();
    this.idleList.dispose();
  }

  private connectFor(user: UpstreamUser, pooled: boolean): UpstreamConn {
    const socket = connect({ host: this.opts.host, port: this.opts.port });
    const c = new UpstreamConn(this, socket, pooled);
    if (pooled) this.open++;
    c.attach(user);
    this.connecting.push(c, this.opts.now() + this.opts.connectTimeoutMs);
    return c;
  }
}

function connectExpired(c: UpstreamConn): void {
  c.connectTimedOut();
}
function idleExpired(c: UpstreamConn): void {
  c.idleTimedOut();
}

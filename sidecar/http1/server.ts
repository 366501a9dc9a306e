/**
 * The client side of the engine: a node:net listener whose connections each parse requests
 * strictly (head.ts, chunked.ts), one at a time, in order: the next pipelined request is not
 * looked at until the current response is written, so answers can never be reordered. Request
 * bodies are handed to the exchange as they arrive, never buffered whole, with back-pressure
 * both ways. Timeouts: the head must arrive within headerTimeoutMs of its first byte (else 408
 * and close: slowloris), the body within bodyTimeoutMs of the head (else the connection is cut:
 * a trickled body would hold a class permit for ever), and an idle keep-alive connection is
 * closed after idleTimeoutMs. At most maxConnections are open at once (WebSocket sessions that left
 * the engine included): node:net closes a connection beyond that as soon as it is accepted, and
 * the listener only counts it.
 * One ServerConn per connection; socket listeners are shared module functions.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { DeadlineList, type DeadlineEntry } from '../deadline-list.js';
import { ChunkedDecoder } from './chunked.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, RequestHead } from './head.js';

export interface ServerLimits {
  /** Longest request head (request line and fields); beyond: 431. */
  maxHeadBytes: number;
  /** Most field lines in a head; beyond: 431. */
  maxHeaderCount: number;
  /** From a head's first byte to its end; beyond: 408 and close. */
  headerTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed after this. */
  idleTimeoutMs: number;
  /** From the end of a head to the end of its body; beyond: the connection is cut (node:http's requestTimeout did this). */
  bodyTimeoutMs: number;
  /**
   * Request targets are put in normal form before the handler sees them, or refused with 400
   * (target.ts): on for the inbound, which classifies by path; off for the egress, whose route
   * is an exact first segment (any other spelling is an unknown route) and whose vendor path is
   * the app's own, relayed as sent.
   */
  normalizeTarget: boolean;
  /**
   * Open client connections on this listener at most, upgraded ones included (each holds a file
   * descriptor, and usually one to the upstream too); beyond: closed on accept and counted.
   */
  maxConnections: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxHeadBytes: 16 * 1024,
  maxHeaderCount: 100,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  bodyTimeoutMs: 300_000,
  normalizeTarget: false,
  maxConnections: 10_000,
};

/** A listener's client connections, for the metrics. */
export interface ConnectionCounts {
  /** Open now, upgraded ones included. */
  open(): Promise<number>;
  /** Closed on accept because maxConnections were open (since start). */
  readonly refused: number;
  readonly limits: ServerLimits;
}

/** A refused or answered request's remaining body up to this size is read and discarded so the connection stays usable. */
export const DRAIN_LIMIT = 64 * 1024;

/** What the connection tells the exchange of the request it serves. */
export interface Exchange {
  /** Request body bytes (framing as it came); false to stop reading until conn.resumeBody(). */
  requestBody(b: Buffer): boolean;
  requestBodyEnd(): void;
  /** The request body's framing is invalid: the upstream must not get the rest (the client gets 400 and the connection closes). */
  requestBodyInvalid(): void;
  /** The client went away (or the connection was cut) before the exchange finished. */
  clientClosed(): void;
  /** The client socket drained: response body may flow again. */
  clientDrain(): void;
}

/** What the inbound pipeline does with a parsed request. It must call conn.bind(exchange) or answer at once. */
export interface RequestHandler {
  request(conn: ServerConn, head: RequestHead): void;
}

const R_HEAD = 0;
const R_BODY = 1;
const R_DONE = 2;
const R_DISCARD = 3;
const R_CLOSED = 4;
const R_DETACHED = 5;

const CRLFCRLF = Buffer.from('\r\n\r\n');

function refusal(status: number, reason: string): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`, 'latin1');
}
const CONNECTION_CLOSE = 'connection: close\r\n';
const CONNECTION_KEEP_ALIVE = 'connection: keep-alive\r\n';

/** Answers the engine itself gives, all ending the connection. */
export const REFUSALS: Readonly<Record<number, Buffer>> = {
  400: refusal(400, 'Bad Request'),
  408: refusal(408, 'Request Timeout'),
  431: refusal(431, 'Request Header Fields Too Large'),
  501: refusal(501, 'Not Implemented'),
  505: refusal(505, 'HTTP Version Not Supported'),
};

const kConn = Symbol('spillway.client');
type ConnSocket = Socket & { [kConn]: ServerConn };

export class ServerConn implements DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlOwner: object | null = null;
  deadline = 0;
  state = R_HEAD;
  exchange: Exchange | null = null;
  head: RequestHead | null = null;
  /** The connection ends after the current response. */
  closeAfter = false;
  /** The exchange takes request body bytes (it is forwarding). */
  private delivering = false;
  private paused = false;
  /** Input not yet consumed (a partial head, or what follows the current request). */
  private buf: Buffer | null = null;
  private remaining = 0;
  private bodyKind = BODY_NONE;
  private readonly chunked: ChunkedDecoder;

  constructor(
    readonly server: Http1Server,
    readonly socket: Socket,
  ) {
    (socket as ConnSocket)[kConn] = this;
    this.chunked = new ChunkedDecoder(server.limits.maxHeadBytes);
    socket.setNoDelay(true);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('drain', onDrain);
    socket.on('error', ignore);
    server.waitForHead(this, true);
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  /** The exchange serving the current request. */
  bind(exchange: Exchange): void {
    this.exchange = exchange;
  }

  /** The exchange is ready for the request body (it has an upstream to write it to). */
  startBody(): void {
    this.delivering = true;
    if (this.state === R_BODY) this.drive();
  }

  /** The upstream drained: read the client again. */
  resumeBody(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
    this.drive();
  }

  /** Whether the request body is all read (so the connection can carry another request). */
  get requestComplete(): boolean {
    return this.state === R_DONE;
  }

  /** Whether the connection stays open after this response: the client's wish, the server not closing, and a request body that is read or cheap to discard. */
  keepAliveAfterResponse(): boolean {
    if (this.closeAfter || this.server.closing) return false;
    // A body the client was told to wait with (100-continue) may never come: discarding it could eat the next request.
    if (this.state === R_BODY && (this.bodyKind !== BODY_LENGTH || this.remaining > DRAIN_LIMIT || (this.head as RequestHead).expectContinue)) this.closeAfter = true;
    return !this.closeAfter;
  }

  /** The connection fields of the response about to be written: close, or kept with the idle-timeout hint. */
  connectionFields(): string {
    if (!this.keepAliveAfterResponse()) return CONNECTION_CLOSE;
    return (this.head as RequestHead).minor === 0 ? this.server.kept10 : this.server.kept11;
  }

  /** The response is fully written: close, or discard what is left of the request body, or read the next request. */
  responseEnd(): void {
    this.exchange = null;
    this.delivering = false;
    if (this.state === R_CLOSED || this.state === R_DETACHED) return;
    if (this.closeAfter || this.server.closing) return this.end();
    if (this.state === R_BODY) {
      if (this.bodyKind !== BODY_LENGTH || this.remaining > DRAIN_LIMIT) return this.end();
      this.state = R_DISCARD;
    } else this.nextRequest();
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    this.drive();
  }

  /** A complete preassembled response (a refusal): one write. */
  respond(bytes: Buffer, close: boolean): void {
    if (close) this.closeAfter = true;
    this.socket.write(bytes);
    this.responseEnd();
  }

  /** Ends the connection after what is written (further input is ignored; the idle timeout destroys it if the client lingers). */
  end(): void {
    if (this.state === R_CLOSED || this.state === R_DETACHED) return;
    this.state = R_CLOSED;
    this.buf = null;
    this.socket.end();
    this.server.untime(this);
    this.server.idleList.push(this, this.server.now() + this.server.limits.idleTimeoutMs);
    if (this.paused) this.socket.resume();
  }

  /** Cuts the connection now. */
  destroy(): void {
    this.socket.destroy();
  }

  /** An upgrade was accepted: the socket leaves the engine; returns the bytes read past the request head. */
  detach(): Buffer | null {
    this.state = R_DETACHED;
    this.exchange = null;
    const s = this.socket;
    s.removeListener('data', onData);
    s.removeListener('end', onEnd);
    s.removeListener('close', onClose);
    s.removeListener('drain', onDrain);
    s.removeListener('error', ignore);
    delete (s as Partial<ConnSocket>)[kConn];
    this.server.forget(this);
    if (this.paused) s.resume();
    const rest = this.buf;
    this.buf = null;
    return rest;
  }

  received(chunk: Buffer): void {
    if (this.state >= R_CLOSED) return;
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    this.drive();
  }

  private nextRequest(): void {
    this.state = R_HEAD;
    this.head = null;
    this.server.waitForHead(this, this.buf === null);
  }

  /** Consumes input as far as the current state allows. */
  private drive(): void {
    for (;;) {
      const b = this.buf;
      switch (this.state) {
        case R_HEAD:
          if (b === null || !this.readHead(b)) return;
          break;
        case R_BODY:
        case R_DISCARD:
          if (b === null) return;
          if (this.state === R_BODY && !this.delivering) return this.hold(b);
          if (!this.readBody(b)) return;
          break;
        default:
          if (b !== null) this.hold(b);
          return;
      }
    }
  }

  /** Keeps input for later without reading more than a head's worth. */
  private hold(b: Buffer): void {
    if (b.length > this.server.limits.maxHeadBytes && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** True when a request was taken (the state changed); false when more input is needed or the connection ended. */
  private readHead(b: Buffer): boolean {
    let s = 0;
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    while (b[s] === 0x0d && b[s + 1] === 0x0a) s += 2;
    if (s === b.length) {
      this.buf = null;
      return false;
    }
    if (s > 0 && b[s] === 0x0d && s + 1 === b.length) {
      this.buf = b.subarray(s);
      return false;
    }
    const server = this.server;
    if (this.dlOwner === server.idleList) server.waitForHead(this, false);
    const max = server.limits.maxHeadBytes;
    const at = b.indexOf(CRLFCRLF, s);
    if (at < 0 || at + 4 - s > max) {
      if (at >= 0 || b.length - s > max) this.refuse(431);
      else this.buf = s === 0 ? b : b.subarray(s);
      return false;
    }
    const end = at + 4;
    const head = new RequestHead();
    const code = head.parse(b, s, end, server.limits);
    if (code !== 0) {
      this.refuse(code);
      return false;
    }
    server.untime(this);
    this.buf = end === b.length ? null : b.subarray(end);
    this.head = head;
    this.bodyKind = head.bodyKind;
    this.remaining = head.contentLength;
    this.delivering = false;
    if (!head.keepAlive) this.closeAfter = true;
    if (head.bodyKind === BODY_CHUNKED) this.chunked.reset(null);
    this.state = head.bodyKind === BODY_NONE ? R_DONE : R_BODY;
    if (this.state === R_BODY) server.bodyList.push(this, server.now() + server.limits.bodyTimeoutMs);
    server.handler.request(this, head);
    return true;
  }

  /** Hands (or discards) body bytes; false when reading must wait. */
  private readBody(b: Buffer): boolean {
    const discard = this.state === R_DISCARD;
    let end: number;
    if (this.bodyKind === BODY_LENGTH) {
      end = Math.min(this.remaining, b.length);
      this.remaining -= end;
    } else {
      end = this.chunked.feed(b, 0, b.length);
      if (end < 0) {
        this.buf = null;
        if (discard) this.end();
        else this.bodyInvalid();
        return false;
      }
    }
    const complete = this.bodyKind === BODY_LENGTH ? this.remaining === 0 : this.chunked.done;
    this.buf = end === b.length ? null : b.subarray(end);
    if (discard) {
      if (complete) this.nextRequest();
      return true;
    }
    const ex = this.exchange as Exchange;
    const more = ex.requestBody(end === b.length ? b : b.subarray(0, end));
    if (complete && this.state === R_BODY) {
      this.state = R_DONE;
      this.server.untime(this);
      ex.requestBodyEnd();
    }
    if (!more && this.state < R_CLOSED) {
      this.paused = true;
      this.socket.pause();
      return false;
    }
    return true;
  }

  private bodyInvalid(): void {
    const ex = this.exchange;
    this.closeAfter = true;
    this.state = R_DONE;
    this.server.untime(this);
    if (ex !== null) ex.requestBodyInvalid();
    // The exchange answered 400 and ended the connection, or cut it; if it could do neither, cut it here.
    if (this.state < R_CLOSED) this.socket.destroy();
  }

  /** A request the engine refuses before any exchange exists: one write, then close. */
  private refuse(status: number): void {
    this.buf = null;
    this.socket.write(REFUSALS[status]);
    this.end();
  }

  headTimedOut(): void {
    if (this.state !== R_HEAD) return;
    // A connection that sent nothing is just closed; a head that stopped half-way gets 408.
    if (this.buf === null) {
      this.socket.destroy();
      return;
    }
    this.socket.write(REFUSALS[408]);
    this.end();
  }

  /** The body did not arrive in time: cut (the exchange hears clientClosed and ends aborted). */
  bodyTimedOut(): void {
    if (this.state === R_BODY || this.state === R_DISCARD) this.socket.destroy();
  }

  idleTimedOut(): void {
    if (this.state === R_HEAD || this.state === R_CLOSED) this.socket.destroy();
  }

  clientEnded(): void {
    if (this.state === R_HEAD && this.buf === null) {
      this.socket.end();
      return;
    }
    this.socket.destroy();
  }

  closed(): void {
    const ex = this.exchange;
    this.state = R_CLOSED;
    this.exchange = null;
    this.buf = null;
    this.server.forget(this);
    if (ex !== null) ex.clientClosed();
  }

  drained(): void {
    this.exchange?.clientDrain();
  }
}

function onData(this: ConnSocket, chunk: Buffer): void {
  this[kConn].received(chunk);
}
function onEnd(this: ConnSocket): void {
  this[kConn].clientEnded();
}
function onClose(this: ConnSocket): void {
  this[kConn].closed();
}
function onDrain(this: ConnSocket): void {
  this[kConn].drained();
}
function ignore(): void {
  // Socket errors end in 'close', which is handled.
}

/** The listener and its connections. */
export class Http1Server implements ConnectionCounts {
  closing = false;
  refused = 0;
  readonly conns = new Set<ServerConn>();
  /** Connections waiting for the rest of a head (header timeout). */
  readonly headList: DeadlineList<ServerConn>;
  /** Connections with nothing in progress (idle timeout). */
  readonly idleList: DeadlineList<ServerConn>;
  /** Connections reading a request body (body timeout). */
  readonly bodyList: DeadlineList<ServerConn>;
  private readonly net: Server;
  /**
   * The connection fields of a response after which the connection stays open, by request
   * version. They carry `keep-alive: timeout=` (as node:http did): a client that reads it (Node's
   * http.Agent, undici) retires the socket before our idle timeout closes it, instead of sending
   * its next request into the close (the keep-alive race, a failed request on the client's side).
   */
  readonly kept11: string;
  readonly kept10: string;

  constructor(
    readonly handler: RequestHandler,
    readonly limits: ServerLimits,
    readonly now: () => number,
  ) {
    const hint = limits.idleTimeoutMs >= 1000 ? `keep-alive: timeout=${Math.floor(limits.idleTimeoutMs / 1000)}\r\n` : '';
    this.kept11 = hint;
    this.kept10 = CONNECTION_KEEP_ALIVE + hint;
    this.headList = new DeadlineList<ServerConn>(now, headExpired);
    this.idleList = new DeadlineList<ServerConn>(now, idleExpired);
    this.bodyList = new DeadlineList<ServerConn>(now, bodyExpired);
    this.net = createServer({ noDelay: true }, this.accept);
    // node:net compares its own count before any JS runs for the connection; 'drop' is all we see of it.
    this.net.maxConnections = limits.maxConnections;
    this.net.on('drop', this.dropped);
  }

  open(): Promise<number> {
    return new Promise((resolve, reject) => this.net.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  get port(): number {
    return (this.net.address() as AddressInfo).port;
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(port, host, () => {
        this.net.off('error', reject);
        resolve();
      });
    });
  }

  /** Takes a connection off whichever timeout list it is on (at most one). */
  untime(c: ServerConn): void {
    const list = c.dlOwner as DeadlineList<ServerConn> | null;
    if (list !== null) list.remove(c);
  }

  /** A connection starts waiting for a head: `idle` when no byte of it is here yet. */
  waitForHead(c: ServerConn, idle: boolean): void {
    this.untime(c);
    if (idle) this.idleList.push(c, this.now() + this.limits.idleTimeoutMs);
    else this.headList.push(c, this.now() + this.limits.headerTimeoutMs);
  }

  forget(c: ServerConn): void {
    this.conns.delete(c);
    this.untime(c);
  }

  /** Stops accepting; idle connections close now, busy ones after their current response. */
  stopAccepting(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.net.close(() => resolve()));
    for (const c of this.conns) if (c.state === R_HEAD) c.destroy();
    return closed;
  }

  /** Cuts every connection (after the drain period). */
  destroyAll(): void {
    for (const c of this.conns) c.destroy();
    this.headList.dispose();
    this.idleList.dispose();
    this.bodyList.dispose();
  }

  private readonly dropped = (): void => {
    this.refused++;
  };

  private readonly accept = (socket: Socket): void => {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.conns.add(new ServerConn(this, socket));
  };
}

function headExpired(c: ServerConn): void {
  c.headTimedOut();
}
function idleExpired(c: ServerConn): void {
  c.idleTimedOut();
}
function bodyExpired(c: ServerConn): void {
  c.bodyTimedOut();
}

/**
 * WebSocket (and any HTTP/1.1 Upgrade) pass-through. The upgrade request is classified and
 * admitted like any request and holds its class slot only during the handshake; once the
 * upstream answers 101 the two sockets are piped, the slot is released, and the session is
 * counted. Sessions hold no reference to any config, so shedding and config changes never cut
 * them; only close() does.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AccessLog } from './admission/access-log.js';
import { O_ABORTED, O_ERROR, O_SUCCESS, O_UPSTREAM_ERROR, outcomeName, type OutcomeCode } from './admission/outcomes.js';
import { Permit } from './admission/permit.js';
import type { ClassRuntime } from './class-runtime.js';
import { plainResponseHead, switchingProtocolsHead, upstreamRequestHeaders } from './proxy-headers.js';

/** What an upgrade needs from the inbound server. */
export interface UpgradeHost {
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly sessions: Sessions;
  /** The access log when it writes end lines, else null. */
  readonly endLog: AccessLog | null;
  loadLevel(): number;
}

const kUpgrade = Symbol('spillway.upgrade');
type Tagged<T> = T & { [kUpgrade]: UpgradeExchange };

/** One upgrade handshake, holding its class permit until the upstream answers (see admission/permit.ts). */
export class UpgradeExchange extends Permit<ClassRuntime> {
  private upReq: ClientRequest | null = null;

  constructor(
    private readonly host: UpgradeHost,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    cls: ClassRuntime,
  ) {
    super(cls);
    (socket as Tagged<Duplex>)[kUpgrade] = this;
    socket.on('close', onClientClose);
    socket.on('error', ignoreError);
  }

  protected forward(): void {
    const req = this.req;
    const upReq = request({
      host: this.host.upstreamHost,
      port: this.host.upstreamPort,
      method: req.method,
      path: req.url,
      headers: upstreamRequestHeaders(req.rawHeaders, req.socket.remoteAddress, String(req.headers.upgrade ?? 'websocket')),
      // Not the pooled agent: a session must never occupy a keep-alive pool slot.
      agent: false,
    });
    (upReq as Tagged<ClientRequest>)[kUpgrade] = this;
    upReq.on('upgrade', onUpstreamUpgrade);
    upReq.on('response', onUpstreamResponse);
    upReq.on('error', onUpstreamError);
    this.upReq = upReq;
    upReq.end();
  }

  protected refuseQueued(reason: 'queue-timeout' | 'capacity'): void {
    this.budget.refusals.sendRaw(reason, this.req, this.socket, this.host.loadLevel());
  }

  protected timedOut(): void {
    this.upReq?.destroy();
    this.budget.refusals.sendRaw('upstream-timeout', this.req, this.socket, this.host.loadLevel());
  }

  protected override ended(outcome: OutcomeCode): void {
    const log = this.host.endLog;
    if (log !== null) {
      const level = this.host.loadLevel();
      log.ended(this.budget.name, outcomeName(outcome), 0, this.req.method, this.req.url, level, this.budget.now() - this.start);
    }
  }

  clientClosed(): void {
    if (!this.clientLeft()) return;
    this.end(O_ABORTED);
    this.upReq?.destroy();
  }

  upgraded(upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer): void {
    if (!this.active || this.socket.destroyed) {
      upSocket.destroy();
      return;
    }
    this.end(O_SUCCESS);
    const socket = this.socket;
    // A session lives for hours: let the handshake's objects (request, exchange) be collected.
    socket.removeListener('close', onClientClose);
    delete (socket as Partial<Tagged<Duplex>>)[kUpgrade];
    if (this.upReq) delete (this.upReq as Partial<Tagged<ClientRequest>>)[kUpgrade];
    this.upReq = null;
    socket.write(switchingProtocolsHead(upRes.statusMessage ?? '', upRes.rawHeaders));
    if (upHead.length > 0) socket.write(upHead);
    if (this.head.length > 0) upSocket.write(this.head);
    this.host.sessions.open(socket, upSocket);
  }

  /** The upstream refused the upgrade with a plain response: relay it and close. */
  refused(upRes: IncomingMessage): void {
    if (!this.active) {
      upRes.resume();
      return;
    }
    const status = upRes.statusCode ?? 502;
    this.end(status >= 500 ? O_ERROR : O_SUCCESS);
    this.socket.write(plainResponseHead(status, upRes.statusMessage ?? '', upRes.rawHeaders));
    upRes.pipe(this.socket);
  }

  upstreamFailed(): void {
    if (this.end(O_UPSTREAM_ERROR)) this.budget.refusals.sendRaw('upstream-error', this.req, this.socket, this.host.loadLevel());
  }
}

function onClientClose(this: Tagged<Duplex>): void {
  this[kUpgrade].clientClosed();
}
// After a 101 the request is detached from its exchange: late events find no tag and are ignored.
function onUpstreamUpgrade(this: Tagged<ClientRequest>, res: IncomingMessage, socket: Duplex, head: Buffer): void {
  this[kUpgrade].upgraded(res, socket, head);
}
function onUpstreamResponse(this: Partial<Tagged<ClientRequest>>, res: IncomingMessage): void {
  this[kUpgrade]?.refused(res);
}
function onUpstreamError(this: Partial<Tagged<ClientRequest>>): void {
  this[kUpgrade]?.upstreamFailed();
}
function ignoreError(): void {
  // Socket errors end in 'close', which is handled.
}

const kSession = Symbol('spillway.session');
const kPeer = Symbol('spillway.peer');
interface Session {
  owner: Sessions;
  client: Duplex;
  upstream: Duplex;
}
type SessionSide = Duplex & { [kSession]: Session; [kPeer]: SessionSide };

/**
 * Established sessions: two sockets relayed to each other, counted; either side closing closes
 * the other. The relay is hand-written with shared listeners instead of pipe(), which allocates
 * about ten closures per direction: a pod may hold tens of thousands of idle sessions.
 */
export class Sessions {
  private readonly live = new Set<Session>();

  get count(): number {
    return this.live.size;
  }

  open(client: Duplex, upstream: Duplex): void {
    const s: Session = { owner: this, client, upstream };
    this.live.add(s);
    const a = client as SessionSide;
    const b = upstream as SessionSide;
    a[kSession] = b[kSession] = s;
    a[kPeer] = b;
    b[kPeer] = a;
    for (const side of [a, b]) {
      side.on('data', onSessionData);
      side.on('drain', onSessionDrain);
      side.on('end', onSessionEnd);
      side.on('close', onSessionSideClose);
      side.on('error', ignoreError);
    }
  }

  /** Only for shutdown: config changes and shedding never call this. */
  closeAll(): void {
    for (const s of this.live) this.ended(s);
  }

  ended(s: Session): void {
    if (!this.live.delete(s)) return;
    s.client.destroy();
    s.upstream.destroy();
  }
}

/** Relay with back-pressure: a side whose peer cannot take more is paused until the peer drains. */
function onSessionData(this: SessionSide, chunk: Buffer): void {
  if (!this[kPeer].write(chunk)) this.pause();
}
function onSessionDrain(this: SessionSide): void {
  this[kPeer].resume();
}
/** Half-close travels through: the peer may still send until it ends too. */
function onSessionEnd(this: SessionSide): void {
  this[kPeer].end();
}
function onSessionSideClose(this: SessionSide): void {
  const s = this[kSession];
  s.owner.ended(s);
}

/**
 * WebSocket (and any HTTP/1.1 Upgrade) sessions. The upgrade request is classified and admitted
 * like any request (sidecar/inbound-exchange.ts) and holds its class permit only during the
 * handshake; once the upstream answers 101 the two raw sockets are relayed here, the permit is
 * released, and the session is counted. Sessions hold no reference to any config, so shedding
 * and config changes never cut them; only close() does.
 */
import type { Duplex } from 'node:stream';

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
function ignoreError(): void {
  // Socket errors end in 'close', which is handled.
}

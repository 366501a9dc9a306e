/**
 * A slowloris client: holds `connections` connections to a server, each sending a partial request
 * head and then one more header byte every `byteEveryMs`, never finishing it. When the server cuts
 * one, it records how long after its first byte, whether the server answered 408 first, and
 * (until stop()) opens another, so the server faces the full count for the whole attack. One
 * interval timer drives every socket (writes and new connections): no timer per connection.
 * Run as its own process by slowloris-main.ts.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface SlowlorisOptions {
  port: number;
  connections: number;
  /** A header byte per connection this often (each connection at its own phase). */
  byteEveryMs: number;
  /** The timer's period; also paces opening: at most `openPerTick` new connections per tick. */
  tickMs?: number;
  openPerTick?: number;
}

/** A partial head: request line, Host, and the start of a field that never ends. */
const PARTIAL_HEAD = Buffer.from('POST /messages/slow HTTP/1.1\r\nhost: spillway.test\r\ncontent-length: 2\r\nx-slow: ', 'latin1');
const BYTE = Buffer.from('a', 'latin1');
const ANSWER_408 = 'HTTP/1.1 408 ';

interface Slot {
  socket: Socket;
  /** performance.now() of the first write; 0 until connected. */
  firstAt: number;
  nextAt: number;
  got: string;
  done: boolean;
}

export interface SlowlorisReport {
  /** Connections opened (connected and given their partial head). */
  opened: number;
  /** Of those, cut by the server; each with its time from the first byte in `cutMs`. */
  cut: number;
  cutMs: number[];
  /** Cut connections whose first bytes back were a 408. */
  answered408: number;
  /** Cut with other bytes first (none expected). */
  answeredOther: number;
  connectErrors: number;
  /** Most connections open (connected, not yet cut) at once. */
  peakOpen: number;
  /** Still open (not cut) when stop() gave up waiting: destroyed by the client. */
  leftOpen: number;
}

export class Slowloris {
  private readonly slots = new Set<Slot>();
  private connecting = 0;
  private open = 0;
  private reopening = true;
  private timer: NodeJS.Timeout | null = null;
  private readonly r: SlowlorisReport = { opened: 0, cut: 0, cutMs: [], answered408: 0, answeredOther: 0, connectErrors: 0, peakOpen: 0, leftOpen: 0 };

  constructor(private readonly o: SlowlorisOptions) {}

  get report(): SlowlorisReport {
    return this.r;
  }

  /** Connections open now. */
  get openNow(): number {
    return this.open;
  }

  start(): void {
    this.timer = setInterval(this.tick, this.o.tickMs ?? 100);
  }

  /** Stops opening connections and waits (up to waitMs) for the server to cut the ones still open; then destroys any left. */
  async stop(waitMs: number): Promise<void> {
    this.reopening = false;
    const deadline = performance.now() + waitMs;
    while ((this.open > 0 || this.connecting > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.slots) {
      if (s.firstAt > 0 && !s.done) this.r.leftOpen++;
      s.done = true;
      s.socket.destroy();
    }
    this.slots.clear();
  }

  private readonly tick = (): void => {
    const now = performance.now();
    for (const s of this.slots) {
      if (s.firstAt > 0 && !s.done && s.nextAt <= now) {
        s.socket.write(BYTE);
        s.nextAt += this.o.byteEveryMs;
      }
    }
    if (!this.reopening) return;
    const room = this.o.connections - this.open - this.connecting;
    for (let i = 0; i < Math.min(room, this.o.openPerTick ?? 250); i++) this.openOne();
  };

  private openOne(): void {
    const socket = connect({ host: '127.0.0.1', port: this.o.port, noDelay: true });
    const slot: Slot = { socket, firstAt: 0, nextAt: 0, got: '', done: false };
    this.connecting++;
    this.slots.add(slot);
    socket.once('connect', () => {
      this.connecting--;
      this.open++;
      this.r.opened++;
      if (this.open > this.r.peakOpen) this.r.peakOpen = this.open;
      slot.firstAt = performance.now();
      // Spread the connections' byte times over the interval so they do not write in lockstep.
      slot.nextAt = slot.firstAt + this.o.byteEveryMs * (0.5 + Math.random() / 2);
      socket.write(PARTIAL_HEAD);
    });
    socket.on('data', (d: Buffer) => {
      if (slot.got.length < ANSWER_408.length) slot.got += d.toString('latin1');
    });
    socket.once('end', () => this.cut(slot));
    socket.once('close', () => {
      if (slot.firstAt === 0) {
        this.connecting--;
        this.r.connectErrors++;
      } else this.cut(slot);
      this.slots.delete(slot);
    });
    socket.on('error', () => {});
  }

  private cut(slot: Slot): void {
    if (slot.done) return;
    slot.done = true;
    this.open--;
    this.r.cut++;
    this.r.cutMs.push(performance.now() - slot.firstAt);
    if (slot.got.startsWith(ANSWER_408)) this.r.answered408++;
    else if (slot.got !== '') this.r.answeredOther++;
    slot.socket.destroy();
  }
}

/** The q-quantile (0..1) of unsorted values (sorts a copy). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

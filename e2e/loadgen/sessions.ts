/**
 * Long-lived WebSocket sessions held the way chat clients hold them: opened at a steady pace,
 * watched for the server's heartbeat, and reopened after a short jittered pause whenever they
 * drop. Closing them at the end of a run is not counted as a drop.
 */
import WebSocket from 'ws';
import type { Recorder } from './recorder.js';

export interface SessionPlan {
  /** Path (and query) of the WebSocket endpoint, e.g. `/ws`. */
  path: string;
  /** Sessions to keep open. */
  count: number;
  /** Pace of the initial opening (default 200/s). */
  openPerSecond?: number;
  /** Pause before reopening a dropped session, jittered ±50% (default 500 ms). */
  reconnectDelayMs?: number;
  /** Treat a session as dead when no message arrives for this long (default 0: off). */
  heartbeatTimeoutMs?: number;
  /** Opening handshake timeout (default 5000 ms). */
  connectTimeoutMs?: number;
}

interface Session {
  ws: WebSocket | null;
  open: boolean;
  lastSeen: number;
}

export class SessionPool {
  private readonly sessions: Session[] = [];
  private openCount = 0;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private rampTimer: NodeJS.Timeout | null = null;
  private readonly url: string;

  constructor(
    target: URL,
    private readonly plan: SessionPlan,
    private readonly recorder: Recorder,
    /** Milliseconds since the run started. */
    private readonly now: () => number,
  ) {
    this.url = `ws://${target.host}${plan.path}`;
  }

  open(): number {
    return this.openCount;
  }

  start(): void {
    const perTick = Math.max(1, Math.ceil((this.plan.openPerSecond ?? 200) / 20));
    this.rampTimer = setInterval(() => {
      for (let i = 0; i < perTick && this.sessions.length < this.plan.count; i++) {
        const s: Session = { ws: null, open: false, lastSeen: 0 };
        this.sessions.push(s);
        this.connect(s);
      }
      if (this.sessions.length >= this.plan.count && this.rampTimer) {
        clearInterval(this.rampTimer);
        this.rampTimer = null;
      }
    }, 50);
  }

  /** Ends sessions whose server has gone quiet (call about once a second). */
  checkHeartbeats(): void {
    const limit = this.plan.heartbeatTimeoutMs ?? 0;
    if (limit <= 0) return;
    const now = this.now();
    for (const s of this.sessions) if (s.open && now - s.lastSeen > limit) s.ws?.terminate();
  }

  /** Closes every session; waits briefly for the closes to go out. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rampTimer) clearInterval(this.rampTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closing: Promise<void>[] = [];
    for (const s of this.sessions) {
      const ws = s.ws;
      if (!ws || ws.readyState === WebSocket.CLOSED) continue;
      closing.push(new Promise((resolve) => ws.once('close', () => resolve())));
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
    }
    const grace = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      t.unref();
    });
    await Promise.race([Promise.all(closing), grace]);
    for (const s of this.sessions) s.ws?.terminate();
  }

  private second(): number {
    return Math.floor(this.now() / 1000);
  }

  private connect(s: Session): void {
    const ws = new WebSocket(this.url, { handshakeTimeout: this.plan.connectTimeoutMs ?? 5000 });
    s.ws = ws;
    ws.on('open', () => {
      s.open = true;
      s.lastSeen = this.now();
      this.openCount++;
      this.recorder.sessionConnected(this.second());
    });
    ws.on('message', () => {
      s.lastSeen = this.now();
    });
    ws.on('error', () => {
      // a 'close' always follows; that is where the loss is booked
    });
    ws.on('close', () => {
      if (this.stopped) {
        if (s.open) this.openCount--;
        s.open = false;
        return;
      }
      if (s.open) {
        this.openCount--;
        this.recorder.sessionDropped(this.second());
      } else {
        this.recorder.sessionConnectFailed(this.second());
      }
      s.open = false;
      this.reconnectLater(s);
    });
  }

  private reconnectLater(s: Session): void {
    const base = this.plan.reconnectDelayMs ?? 500;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (!this.stopped) this.connect(s);
      },
      base * (0.5 + Math.random()),
    );
    this.timers.add(timer);
  }
}

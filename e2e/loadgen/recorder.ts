/**
 * Per-second, per-class tallies of a load run. Each request is booked in the second it was
 * scheduled, so a window of seconds answers "of what users sent then, what happened to it".
 */
import { LogHistogram } from './histogram.js';

export interface ClassCounts {
  /** Requests put on the wire (retries included). */
  sent: number;
  /** 2xx responses. */
  succeeded: number;
  /** Refusals, by `x-spillway-reason`. */
  shed: Record<string, number>;
  /** Other answers and transport errors. */
  failed: number;
  /** Why those failed: HTTP status or error code. */
  errors: Record<string, number>;
  /** No complete answer within the client timeout. */
  timeouts: number;
  /** Never sent: the class's in-flight guard was full (the target had stopped answering). */
  droppedByClient: number;
  /** Re-sends after a refusal's Retry-After. */
  retries: number;
}

export interface ClassWindow extends ClassCounts {
  /** Seconds in the window. */
  seconds: number;
  /** Succeeded per second. */
  goodput: number;
  /** Latency of successes (ms, from the scheduled send time); null when none. */
  p50: number | null;
  p99: number | null;
  p999: number | null;
}

export interface SessionCounts {
  /** Open sessions at the end of the window (for one second: at its end). */
  open: number;
  /** Fewest open at any second's end in the window. */
  minOpen: number;
  /** Sessions lost without the client closing them (server close, reset, missed heartbeats). */
  dropped: number;
  connects: number;
  connectFailures: number;
}

export interface WindowSummary {
  fromSecond: number;
  /** Exclusive. */
  toSecond: number;
  classes: Record<string, ClassWindow>;
  sessions: SessionCounts;
}

interface ClassSecond {
  counts: ClassCounts;
  latency: LogHistogram;
}

interface Second {
  classes: Map<string, ClassSecond>;
  sessions: SessionCounts;
}

function emptyCounts(): ClassCounts {
  return { sent: 0, succeeded: 0, shed: {}, failed: 0, errors: {}, timeouts: 0, droppedByClient: 0, retries: 0 };
}

function addTo(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export class Recorder {
  private readonly seconds: Second[] = [];

  constructor(private readonly classNames: readonly string[]) {}

  private cls(second: number, name: string): ClassCounts {
    return this.slot(second, name).counts;
  }

  private slot(second: number, name: string): ClassSecond {
    const s = this.second(second);
    let c = s.classes.get(name);
    if (!c) s.classes.set(name, (c = { counts: emptyCounts(), latency: new LogHistogram() }));
    return c;
  }

  private second(i: number): Second {
    while (this.seconds.length <= i) {
      const prevOpen = this.seconds.length > 0 ? this.seconds[this.seconds.length - 1].sessions.open : 0;
      this.seconds.push({
        classes: new Map(),
        sessions: { open: prevOpen, minOpen: prevOpen, dropped: 0, connects: 0, connectFailures: 0 },
      });
    }
    return this.seconds[i];
  }

  sent(second: number, name: string): void {
    this.cls(second, name).sent++;
  }
  retry(second: number, name: string): void {
    this.cls(second, name).retries++;
  }
  succeeded(second: number, name: string, latencyMs: number): void {
    const s = this.slot(second, name);
    s.counts.succeeded++;
    s.latency.record(latencyMs);
  }
  shed(second: number, name: string, reason: string): void {
    const shed = this.cls(second, name).shed;
    shed[reason] = (shed[reason] ?? 0) + 1;
  }
  failed(second: number, name: string, why: string): void {
    const c = this.cls(second, name);
    c.failed++;
    c.errors[why] = (c.errors[why] ?? 0) + 1;
  }
  timeout(second: number, name: string): void {
    this.cls(second, name).timeouts++;
  }
  droppedByClient(second: number, name: string): void {
    this.cls(second, name).droppedByClient++;
  }

  sessionConnected(second: number): void {
    this.second(second).sessions.connects++;
  }
  sessionConnectFailed(second: number): void {
    this.second(second).sessions.connectFailures++;
  }
  sessionDropped(second: number): void {
    this.second(second).sessions.dropped++;
  }
  /** Samples the open-session gauge (the latest sample of a second wins; the minimum is kept too). */
  sessionsOpen(second: number, open: number): void {
    const s = this.second(second).sessions;
    s.open = open;
    s.minOpen = Math.min(s.minOpen, open);
  }

  /** How many seconds have been booked so far. */
  length(): number {
    return this.seconds.length;
  }

  /** Totals over seconds [from, to). */
  window(fromSecond: number, toSecond: number): WindowSummary {
    const from = Math.max(0, fromSecond);
    const to = Math.min(toSecond, this.seconds.length);
    const classes: Record<string, ClassWindow> = {};
    const seconds = Math.max(0, toSecond - fromSecond);
    for (const name of this.classNames) {
      const counts = emptyCounts();
      const latency = new LogHistogram();
      for (let i = from; i < to; i++) {
        const c = this.seconds[i].classes.get(name);
        if (!c) continue;
        counts.sent += c.counts.sent;
        counts.succeeded += c.counts.succeeded;
        counts.failed += c.counts.failed;
        counts.timeouts += c.counts.timeouts;
        counts.droppedByClient += c.counts.droppedByClient;
        counts.retries += c.counts.retries;
        addTo(counts.shed, c.counts.shed);
        addTo(counts.errors, c.counts.errors);
        latency.merge(c.latency);
      }
      classes[name] = {
        ...counts,
        seconds,
        goodput: seconds > 0 ? counts.succeeded / seconds : 0,
        p50: latency.percentile(0.5),
        p99: latency.percentile(0.99),
        p999: latency.percentile(0.999),
      };
    }
    const sessions: SessionCounts = { open: 0, minOpen: 0, dropped: 0, connects: 0, connectFailures: 0 };
    let minOpen = Infinity;
    for (let i = from; i < to; i++) {
      const s = this.seconds[i].sessions;
      sessions.dropped += s.dropped;
      sessions.connects += s.connects;
      sessions.connectFailures += s.connectFailures;
      sessions.open = s.open;
      minOpen = Math.min(minOpen, s.minOpen);
    }
    sessions.minOpen = minOpen === Infinity ? 0 : minOpen;
    return { fromSecond, toSecond, classes, sessions };
  }
}

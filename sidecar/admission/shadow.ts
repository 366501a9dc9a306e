/**
 * Shadow mode of a class: nothing is refused or queued, and a would-be copy of the class's limiter
 * and queue says what Enforce would have done with each request. The copy uses the class's own
 * Limiter (its `inflight` is the would-be count, so limits, borrowing and the load level work
 * unchanged) and a FIFO of would-be waiters (arrival times); it is advanced lazily, at each
 * arrival of the class and at the inbound's 100 ms sample: no timer, no closure.
 *
 * How long a would-be slot is held is the crux. A request Enforce would have admitted really runs,
 * but on an upstream that Shadow also loads with everything Enforce would have refused, so it runs
 * slower than it would have. While no such request runs in the pod ("clean"), the slot is held for
 * the request's real duration: the upstream carries what Enforce would send it. Otherwise it is
 * held for the latency the class's LatencyModel predicts at the pod's would-be concurrency (capped
 * by the class timeout), or the request's real duration if that ends first. A would-be waiter
 * takes the next freed slot in arrival order and holds it for that prediction too, or is counted
 * `queue-timeout` after queue.timeoutMs. See docs/sidecar-data-plane.md, "Shadow".
 */
import type { Limiter } from '../limiter.js';
import { LatencyModel } from './latency-model.js';
import { S_CAPACITY, S_LOAD_LEVEL, S_QUEUE_TIMEOUT, S_QUEUED, SHADOW_OUTCOMES } from './outcomes.js';
import type { Permit } from './permit.js';

/** Permit.slot of a Shadow request that holds a would-be slot (given back at its end or its deadline). */
export const WOULD_RUN = 1;
/** Permit.slot of a Shadow request Enforce would have admitted whose would-be slot is already given back. */
export const RAN = 2;
/** Permit.slot of a Shadow request Enforce would have refused or made wait: an overload it adds. */
export const EXCESS = 3;

/** Weight of a new latency in the mean of every observed latency (the fallback before the model knows). */
const OBSERVED_WEIGHT = 1 / 16;

/** What a Shadow class's would-be copy reads of its class. */
export interface ShadowClass {
  readonly limiter: Limiter;
  shedAtLevel: number;
  /** 0: none. */
  timeoutMs: number;
  /** A would-be slot was given back after `latencyMs` (the adaptive limit learns from it). */
  wouldBeEnded(latencyMs: number, now: number): void;
}

/** A class of the pod, as the pod's sums need it. */
export interface PodMember {
  readonly limiter: Limiter;
  readonly shadowState: ShadowState | null;
}

/** The pod's upstream concurrency, real and would-be, over its classes in force. */
export class PodLoad {
  /** `members`: the classes in force now (read at each sum, so it never goes stale). */
  constructor(private readonly members: () => readonly PodMember[]) {}

  /** Requests the upstream carries now. */
  upstream(): number {
    let n = 0;
    for (const m of this.members()) {
      const s = m.shadowState;
      n += s === null ? m.limiter.inflight : m.limiter.inflight - s.virtual + s.running;
    }
    return n;
  }

  /** Requests the upstream would carry under Enforce. */
  wouldBe(): number {
    let n = 0;
    for (const m of this.members()) n += m.limiter.inflight;
    return n;
  }

  /** Requests running that Enforce would have refused or kept waiting. */
  excess(): number {
    let n = 0;
    for (const m of this.members()) if (m.shadowState !== null) n += m.shadowState.excess;
    return n;
  }
}

export class ShadowState {
  /** Would-be outcomes by SHADOW_OUTCOMES index; cumulative, read by the metrics. */
  readonly counts: Float64Array;
  readonly model = new LatencyModel();
  /** Mean of every latency observed (clean or not), NaN before the first. */
  observedMs = NaN;
  /** False once the class went back to Enforce (its running requests still end here). */
  enabled = true;
  /** Requests of the class running without a real slot. */
  running = 0;
  /** Of them, the ones Enforce would have refused or kept waiting. */
  excess = 0;
  /** Limiter slots held by the would-be copy (not by real Enforce requests). */
  virtual = 0;
  /** Would-be releases: a min-heap of deadlines, each with its permit (null: a would-be waiter's slot). */
  private deadlines = new Float64Array(64);
  private holders: (Permit | null)[] = [];
  private size = 0;
  /** Would-be waiters' arrival times, a ring. */
  private arrivals = new Float64Array(64);
  private head = 0;
  private waiting = 0;
  /** The slot and deadline admit() decided for the request whose permit pass() makes next. */
  private nextSlot = EXCESS;
  private nextDeadline = Infinity;
  private nextLoad = -1;

  constructor(
    private readonly cls: ShadowClass,
    private readonly pod: PodLoad,
    counts: Float64Array = new Float64Array(SHADOW_OUTCOMES.length),
  ) {
    this.counts = counts;
  }

  /** Would-be waiters now (for /state). */
  get queued(): number {
    return this.waiting;
  }

  /**
   * A request arrives: decide what Enforce would do (counted), to be applied by entered() on its
   * permit. It always runs.
   */
  admit(level: number, now: number): void {
    this.advance(now);
    const l = this.cls.limiter;
    const pod = this.pod;
    const clean = pod.excess() === 0;
    this.nextLoad = clean ? pod.upstream() + 1 : -1;
    this.nextDeadline = Infinity;
    if (level >= this.cls.shedAtLevel) {
      this.counts[S_LOAD_LEVEL]++;
      this.nextSlot = EXCESS;
    } else if (l.tryAcquire()) {
      this.virtual++;
      this.nextSlot = WOULD_RUN;
      if (!clean) this.nextDeadline = now + this.holdMs(pod.wouldBe());
    } else if (this.waiting < l.queueSize || (l.pool !== null && this.waiting < l.queueSize + l.limit - l.inflight)) {
      this.pushArrival(now);
      this.counts[S_QUEUED]++;
      this.nextSlot = EXCESS;
    } else {
      this.counts[S_CAPACITY]++;
      this.nextSlot = EXCESS;
    }
  }

  /** The permit of the request admit() just decided on: it runs without a real slot. */
  entered(p: Permit): void {
    p.slot = this.nextSlot;
    p.shadowLoad = this.nextLoad;
    this.running++;
    if (p.slot === EXCESS) this.excess++;
    else if (this.nextDeadline !== Infinity) this.pushDeadline(this.nextDeadline, p);
  }

  /** A request that ran without a real slot ended; `latencyMs` from its start, `answered` when the upstream answered it. */
  left(p: Permit, latencyMs: number, answered: boolean, now: number): void {
    this.running--;
    if (p.slot === EXCESS) this.excess--;
    if (answered) {
      this.observedMs = Number.isNaN(this.observedMs) ? latencyMs : this.observedMs + (latencyMs - this.observedMs) * OBSERVED_WEIGHT;
      // Clean when it started: the upstream then carried what Enforce would have sent it. (Excess
      // that starts later may slow it: the model then errs long, towards the real durations.)
      if (p.shadowLoad >= 0) this.model.add(p.shadowLoad, latencyMs);
    }
    if (p.slot !== WOULD_RUN) return;
    p.slot = RAN;
    if (this.enabled) this.advance(now);
    this.giveBack(latencyMs, now);
    if (this.enabled) this.admitWaiters(now);
  }

  /**
   * Brings the would-be copy up to `now`, in time order: slots whose deadline passed are given
   * back and taken by the oldest waiters; waiters past queue.timeoutMs are counted queue-timeout.
   */
  advance(now: number): void {
    while (this.size > 0 && this.deadlines[0] <= now) {
      const at = this.deadlines[0];
      const p = this.popDeadline();
      if (p !== null) {
        if (p.slot !== WOULD_RUN) continue; // its real end came first and gave the slot back
        p.slot = RAN;
        this.giveBack(at - p.start, at);
      } else this.giveBack(NaN, at);
      this.admitWaiters(at);
    }
    this.admitWaiters(now);
  }

  /** The class went back to Enforce: would-be waiters and waiters' slots are dropped; running requests keep theirs until they end. */
  disable(): void {
    this.enabled = false;
    this.waiting = 0;
    while (this.size > 0) {
      const p = this.popDeadline();
      if (p === null) {
        this.virtual--;
        this.cls.limiter.release();
      }
    }
  }

  /** How long a would-be slot taken now is held: the predicted latency at the pod's would-be concurrency (that slot included). */
  holdMs(wouldBeConcurrency: number): number {
    let ms = this.model.predict(wouldBeConcurrency);
    if (Number.isNaN(ms)) ms = Number.isNaN(this.observedMs) ? 0 : this.observedMs;
    const timeout = this.cls.timeoutMs;
    return timeout > 0 && ms > timeout ? timeout : ms;
  }

  private giveBack(latencyMs: number, at: number): void {
    this.virtual--;
    this.cls.limiter.release();
    if (!Number.isNaN(latencyMs)) this.cls.wouldBeEnded(latencyMs, at);
  }

  /** Oldest waiters first: a timed-out one is counted, the next takes a free slot at `at`. */
  private admitWaiters(at: number): void {
    const l = this.cls.limiter;
    const timeout = l.queueTimeoutMs;
    while (this.waiting > 0) {
      if (this.arrivals[this.head] + timeout <= at) {
        this.shiftArrival();
        this.counts[S_QUEUE_TIMEOUT]++;
        continue;
      }
      if (!l.tryAcquire()) return;
      this.shiftArrival();
      this.virtual++;
      this.pushDeadline(at + this.holdMs(this.pod.wouldBe()), null);
    }
  }

  private pushArrival(t: number): void {
    let cap = this.arrivals.length;
    if (this.waiting === cap) {
      const grown = new Float64Array(cap * 2);
      for (let i = 0; i < this.waiting; i++) grown[i] = this.arrivals[(this.head + i) % cap];
      this.arrivals = grown;
      this.head = 0;
      cap *= 2;
    }
    this.arrivals[(this.head + this.waiting) % cap] = t;
    this.waiting++;
  }

  private shiftArrival(): void {
    this.head = (this.head + 1) % this.arrivals.length;
    this.waiting--;
  }

  private pushDeadline(at: number, p: Permit | null): void {
    if (this.size === this.deadlines.length) {
      const grown = new Float64Array(this.size * 2);
      grown.set(this.deadlines);
      this.deadlines = grown;
    }
    const d = this.deadlines;
    const h = this.holders;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent] <= at) break;
      d[i] = d[parent];
      h[i] = h[parent];
      i = parent;
    }
    d[i] = at;
    h[i] = p;
  }

  private popDeadline(): Permit | null {
    const d = this.deadlines;
    const h = this.holders;
    const top = h[0];
    const n = --this.size;
    const lastAt = d[n];
    const last = h[n];
    h[n] = null;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && d[child + 1] < d[child]) child++;
      if (d[child] >= lastAt) break;
      d[i] = d[child];
      h[i] = h[child];
      i = child;
    }
    if (n > 0) {
      d[i] = lastAt;
      h[i] = last;
    }
    return top;
  }
}

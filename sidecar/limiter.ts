/**
 * A per-class concurrency budget with a bounded FIFO wait queue. `inflight < limit` admits at
 * once; otherwise a request may wait in the queue (up to `queueSize`) for `queueTimeoutMs`;
 * freed slots go to waiters in arrival order; a waiter whose time is up is told so.
 *
 * Two opt-in disciplines change that, and only for the classes that use them (the others take
 * exactly the path above): `fair` (admission/fair-flows.ts) orders the queue by flow, and `pool`
 * (admission/borrow-pool.ts) lets classes of a pod lend and borrow idle slots.
 *
 * Pure bookkeeping: the limiter never touches sockets. Waiters are the request objects
 * themselves (intrusively linked), so queueing allocates nothing.
 */
import type { BorrowPool } from './admission/borrow-pool.js';
import { unlinkFlowWaiter, type FairFlows, type FlowWaiter } from './admission/fair-flows.js';
import { DeadlineList, type DeadlineEntry } from './deadline-list.js';

export interface Waiter extends DeadlineEntry {
  /** A slot was taken for this waiter (inflight already counts it). */
  admitted(): void;
  /** The waiter spent queueTimeoutMs in the queue; it holds no slot. */
  queueTimedOut(): void;
}

export interface LimiterSettings {
  limit: number;
  queueSize: number;
  queueTimeoutMs: number;
}

export class Limiter {
  limit: number;
  queueSize: number;
  queueTimeoutMs: number;
  inflight = 0;
  /** Fair queuing between flows; null: FIFO. */
  fair: FairFlows | null = null;
  /** The pod's lending pool when some class borrows; null: this class's slots are its own. */
  pool: BorrowPool | null = null;
  /** Slots this class may borrow beyond its limit (only with a pool). */
  borrowMax = 0;
  private readonly queue: DeadlineList<Waiter>;

  constructor(
    settings: LimiterSettings,
    private readonly now: () => number,
  ) {
    this.limit = settings.limit;
    this.queueSize = settings.queueSize;
    this.queueTimeoutMs = settings.queueTimeoutMs;
    this.queue = new DeadlineList<Waiter>(now, expireWaiter);
  }

  get queued(): number {
    return this.queue.size;
  }

  /** In-flight requests beyond the class's own limit: slots borrowed from other classes. */
  get borrowed(): number {
    return this.inflight > this.limit ? this.inflight - this.limit : 0;
  }

  /** Takes a slot if one is free. */
  tryAcquire(): boolean {
    if (this.inflight < this.limit) {
      if (this.pool === null) {
        this.inflight++;
        return true;
      }
      return this.pool.takeOwn(this);
    }
    return this.pool !== null && this.pool.borrow(this);
  }

  /** Whether a request that found no slot may wait: queue room, or (pooled) one of its own slots is lent out. */
  mayQueue(): boolean {
    const q = this.queue.size;
    if (q < this.queueSize) return true;
    return this.pool !== null && q < this.queueSize + this.limit - this.inflight;
  }

  /** Queues a waiter if it may wait (call after tryAcquire failed). */
  enqueue(w: Waiter): boolean {
    if (!this.mayQueue()) return false;
    this.queue.push(w, this.now() + this.queueTimeoutMs);
    if (this.fair !== null) this.fair.enqueue(w as unknown as FlowWaiter);
    return true;
  }

  /**
   * Fairness, queue full: whether the request of the flow being admitted may take a place from a
   * flow holding more places (that flow's newest waiter is evicted here).
   */
  queueFairly(): boolean {
    const fair = this.fair as FairFlows;
    const f = fair.flowFor(fair.key);
    const victim = fair.victimFor(f, this.queueSize);
    if (victim === null) {
      fair.dropIfIdle(f);
      return false;
    }
    this.queue.remove(victim as unknown as Waiter);
    victim.evicted();
    return true;
  }

  /** A waiter left the queue on its own (client gone). */
  cancel(w: Waiter): void {
    this.queue.remove(w);
    if (this.fair !== null) unlinkFlowWaiter(w as unknown as FlowWaiter);
  }

  /** Gives a slot back; the oldest waiter, if any, takes it (pooled: the pool decides who). */
  release(): void {
    this.inflight--;
    if (this.pool === null) this.admitWaiters();
    else this.pool.returned();
  }

  /**
   * New limits from a config change or warm-up. Admitted work is never cancelled: a shrunk
   * limit only stops new admissions until inflight falls below it. Waiters already queued beyond
   * a shrunk queueSize stay queued (they are admitted or time out as usual).
   */
  update(settings: LimiterSettings): void {
    this.queueSize = settings.queueSize;
    this.queueTimeoutMs = settings.queueTimeoutMs;
    this.setLimit(settings.limit);
  }

  setLimit(limit: number): void {
    const grew = limit > this.limit;
    if (this.pool !== null) this.pool.limitChanged(limit - this.limit);
    this.limit = limit;
    if (!grew) return;
    if (this.pool === null) this.admitWaiters();
    else this.pool.dispatch();
  }

  /** Times out the waiters whose deadline has passed (also run by the queue's own timer). */
  expireDue(now?: number): void {
    this.queue.expireDue(now);
  }

  dispose(): void {
    this.queue.dispose();
  }

  /** Admits the next waiter (FIFO, or by flow); the caller has checked there is one and a slot. */
  admitNext(): void {
    const w = this.fair === null ? (this.queue.shift() as Waiter) : (this.fair.next() as unknown as Waiter);
    if (this.fair !== null) this.queue.remove(w);
    this.inflight++;
    w.admitted();
  }

  private admitWaiters(): void {
    while (this.inflight < this.limit && this.queue.size > 0) this.admitNext();
  }
}

function expireWaiter(w: Waiter): void {
  const fw = w as unknown as FlowWaiter;
  if (fw.flow !== undefined && fw.flow !== null) unlinkFlowWaiter(fw);
  w.queueTimedOut();
}

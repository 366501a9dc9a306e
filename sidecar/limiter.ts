/**
 * A per-class concurrency budget with a bounded FIFO wait queue. `inflight < limit` admits at
 * once; otherwise a request may wait in the queue (up to `queueSize`) for `queueTimeoutMs`;
 * freed slots go to waiters in arrival order; a waiter whose time is up is told so.
 *
 * Pure bookkeeping: the limiter never touches sockets. Waiters are the request objects
 * themselves (intrusively linked), so queueing allocates nothing.
 */
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

  /** Takes a slot if one is free. */
  tryAcquire(): boolean {
    if (this.inflight < this.limit) {
      this.inflight++;
      return true;
    }
    return false;
  }

  /** Queues a waiter if the queue has room (call after tryAcquire failed). */
  enqueue(w: Waiter): boolean {
    if (this.queue.size >= this.queueSize) return false;
    this.queue.push(w, this.now() + this.queueTimeoutMs);
    return true;
  }

  /** A waiter left the queue on its own (client gone). */
  cancel(w: Waiter): void {
    this.queue.remove(w);
  }

  /** Gives a slot back; the oldest waiter, if any, takes it. */
  release(): void {
    this.inflight--;
    this.admitWaiters();
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
    this.limit = limit;
    if (grew) this.admitWaiters();
  }

  /** Times out the waiters whose deadline has passed (also run by the queue's own timer). */
  expireDue(now?: number): void {
    this.queue.expireDue(now);
  }

  dispose(): void {
    this.queue.dispose();
  }

  private admitWaiters(): void {
    while (this.inflight < this.limit && this.queue.size > 0) {
      const w = this.queue.shift() as Waiter;
      this.inflight++;
      w.admitted();
    }
  }
}

function expireWaiter(w: Waiter): void {
  w.queueTimedOut();
}

/**
 * Lending and borrowing of slots between the classes of one pod, in the spirit of Kubernetes
 * API Priority and Fairness' borrowing between priority levels (without its periodic
 * re-division: here the pool is settled on every release).
 *
 * The pod's capacity is the sum of its classes' limits and is never exceeded. A class below its
 * own limit takes a slot when the pod has one free; a class at its limit may take one more only
 * up to its `borrowMax`. Slots are never taken back from a running request (no preemption): a
 * class whose own slots are lent out waits for them (beyond its queue size, up to the slots it is
 * owed), and each freed slot goes first to such a lender, then to a borrower, the higher
 * `priority` first within each.
 *
 * The pool exists only when some class of the pod borrows; without one every limiter keeps its
 * slots to itself exactly as before.
 */
import type { Limiter } from '../limiter.js';

export interface PoolMember {
  readonly limiter: Limiter;
  readonly priority: number;
}

export class BorrowPool {
  /** Members, higher priority first (stable: match order among equals). */
  private readonly members: Limiter[];
  /** Sum of the members' limits. */
  capacity = 0;
  /** Sum of the members' in-flight requests. */
  inflight = 0;

  constructor(members: readonly PoolMember[]) {
    this.members = [...members].sort((a, b) => b.priority - a.priority).map((m) => m.limiter);
    for (const l of this.members) {
      this.capacity += l.limit;
      this.inflight += l.inflight;
    }
  }

  /** Joins every member to this pool (a member of an older pool leaves it). */
  attach(): void {
    for (const l of this.members) l.pool = this;
  }

  /** A member below its own limit: takes a slot if the pod has one (otherwise its own are lent out). */
  takeOwn(l: Limiter): boolean {
    if (this.inflight >= this.capacity) return false;
    l.inflight++;
    this.inflight++;
    return true;
  }

  /** A member at its limit: borrows an idle slot within its borrowMax. */
  borrow(l: Limiter): boolean {
    if (l.inflight - l.limit >= l.borrowMax || this.inflight >= this.capacity) return false;
    l.inflight++;
    this.inflight++;
    return true;
  }

  limitChanged(delta: number): void {
    this.capacity += delta;
  }

  /** A member gave a slot back (its own inflight already counts it). */
  returned(): void {
    this.inflight--;
    this.dispatch();
  }

  /** Hands free slots to waiters, lenders first. */
  dispatch(): void {
    while (this.inflight < this.capacity) {
      const next = this.nextWaiting();
      if (next === null) return;
      next.admitNext();
      this.inflight++;
    }
  }

  /** The member whose waiter gets the next free slot: owed slots before borrowed ones, by priority. */
  private nextWaiting(): Limiter | null {
    let borrower: Limiter | null = null;
    for (const l of this.members) {
      if (l.queued === 0) continue;
      if (l.inflight < l.limit) return l;
      if (borrower === null && l.inflight - l.limit < l.borrowMax) borrower = l;
    }
    return borrower;
  }
}

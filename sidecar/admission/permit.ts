/**
 * The admission core shared by the inbound exchange, the upgrade and the egress send, in the
 * shape of Netflix's concurrency-limits: `admit()` takes a slot from a budget (or says to queue,
 * or refuses), and the request object itself holds the permit — it is the limiter's waiter and
 * the timeout list's entry, intrusively linked, so admission allocates nothing. `end(outcome)`
 * is the only release of a slot and runs at most once: one state machine QUEUED → ACTIVE → DONE
 * for every kind of request.
 */
import type { DeadlineEntry, DeadlineList } from '../deadline-list.js';
import type { Limiter, Waiter } from '../limiter.js';
import type { Flow, FlowWaiter } from './fair-flows.js';
import { O_ABORTED, O_CAPACITY, O_LOAD_LEVEL, O_QUEUE_TIMEOUT, O_TIMEOUT, type OutcomeCode } from './outcomes.js';
import type { ShadowState } from './shadow.js';

/** A class (inbound) or route (egress) budget: what a permit is taken from and given back to. */
export interface Budget {
  readonly name: string;
  readonly limiter: Limiter;
  /** Refused with load-level while the level is ≥ this; Infinity: never. */
  shedAtLevel: number;
  /** Upstream timeout of an admitted request in ms; 0: none. */
  timeoutMs: number;
  /** Admitted requests with a timeout, oldest first. */
  readonly timeouts: DeadlineList<Permit>;
  /** Counts by OutcomeCode, read by the metrics at scrape time. */
  readonly outcomes: Float64Array;
  now(): number;
  /** A permit ended (already counted): record its duration and give the slot back (if it held one). */
  released(p: Permit, durationMs: number, outcome: OutcomeCode): void;
  /** Shadow (inbound classes only): the would-be copy that decided on pass-throughs; null or absent: never in Shadow. */
  readonly shadowState?: ShadowState | null;
}

/** admit(): a slot was taken; call admitted() on the new holder. */
export const GRANTED = -1;
/** admit(): the queue has room; enqueue the new holder with budget.limiter.enqueue(). */
export const QUEUE = -2;
export type Decision = typeof GRANTED | typeof QUEUE | OutcomeCode;

/**
 * Load level → permit, queue or refuse. A refusal is counted here and returned as its outcome
 * (O_LOAD_LEVEL or O_CAPACITY); the caller answers it from the refusal table. Pure but for the
 * budget's counters: no holder exists yet, so a refused request allocates none. A budget using
 * neither fairness nor borrowing takes the first lines only. A class in Shadow never comes here:
 * its would-be copy decides (admission/shadow.ts) and the request runs through pass().
 */
export function admit(b: Budget, level: number): Decision {
  const l = b.limiter;
  if (level >= b.shedAtLevel) {
    b.outcomes[O_LOAD_LEVEL]++;
    return O_LOAD_LEVEL;
  }
  if (l.tryAcquire()) return GRANTED;
  if (l.queued < l.queueSize) return QUEUE;
  if ((l.pool !== null && l.mayQueue()) || (l.fair !== null && l.queueFairly())) return QUEUE;
  b.outcomes[O_CAPACITY]++;
  return O_CAPACITY;
}

/** Permit.slot: holds a slot of the budget (every Enforce permit); Shadow's values are in admission/shadow.ts. */
export const HOLDS_SLOT = 0;

export const QUEUED = 0;
export const ACTIVE = 1;
export const DONE = 2;

/**
 * A request that holds (or waits for) a slot of a budget. Subclasses say what admission means
 * for them (forward to the upstream) and how to answer a queue timeout and an upstream timeout;
 * the state machine and the release live here only.
 */
export abstract class Permit<B extends Budget = Budget> implements Waiter, DeadlineEntry, FlowWaiter {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlOwner: object | null = null;
  deadline = 0;
  state = QUEUED;
  readonly start: number;
  /** When it took its slot (start, unless it waited in the queue). */
  admittedAt: number;
  /** Fairness: the flow this request belongs to, and its links in that flow's queue. */
  flow: Flow | null;
  fqPrev: FlowWaiter | null = null;
  fqNext: FlowWaiter | null = null;
  /** HOLDS_SLOT, or (Shadow) what the would-be copy made of it: WOULD_RUN, RAN or EXCESS. */
  slot = HOLDS_SLOT;
  /**
   * Shadow: the pod's upstream concurrency when it started, itself included; -1 when not clean.
   * Declared only: set by ShadowState.entered(), so an Enforce permit carries no extra field.
   */
  declare shadowLoad: number;

  constructor(readonly budget: B) {
    this.start = this.admittedAt = budget.now();
    const fair = budget.limiter.fair;
    this.flow = fair === null ? null : fair.flowFor(fair.key);
  }

  /** Took a slot (at once after GRANTED, or later from the queue): arm the timeout and forward. */
  admitted(): void {
    const b = this.budget;
    // Only a request that waited has a deadline already (the queue's); its latency starts now.
    if (this.deadline !== 0) this.admittedAt = b.now();
    this.state = ACTIVE;
    if (this.flow !== null) this.flow.inflight++;
    if (b.timeoutMs > 0) b.timeouts.push(this, b.now() + b.timeoutMs);
    this.forward();
  }

  /** Shadow, after the would-be copy decided (ShadowState.admit()): runs without a real slot. */
  pass(): void {
    (this.budget.shadowState as ShadowState).entered(this);
    this.admitted();
  }

  /** Waited queue.timeoutMs without a slot: it never held one. */
  queueTimedOut(): void {
    this.state = DONE;
    this.budget.outcomes[O_QUEUE_TIMEOUT]++;
    this.leftFlow();
    this.ended(O_QUEUE_TIMEOUT);
    this.refuseQueued('queue-timeout');
  }

  /** Fairness: lost its queue place to a flow holding fewer (already out of the queue). */
  evicted(): void {
    this.state = DONE;
    this.budget.outcomes[O_CAPACITY]++;
    this.leftFlow();
    this.ended(O_CAPACITY);
    this.refuseQueued('capacity');
  }

  /** The budget's timeoutMs passed while admitted. */
  upstreamTimedOut(): void {
    if (this.end(O_TIMEOUT)) this.timedOut();
  }

  /**
   * The only release of a slot: counts the outcome, records the duration, gives the slot back
   * (to the oldest waiter). False when the permit was not active (never admitted, or ended).
   */
  end(outcome: OutcomeCode): boolean {
    if (this.state !== ACTIVE) return false;
    this.state = DONE;
    const b = this.budget;
    b.outcomes[outcome]++;
    b.timeouts.remove(this);
    const durationMs = b.now() - this.start;
    if (this.flow !== null) {
      this.flow.inflight--;
      this.leftFlow();
    }
    b.released(this, durationMs, outcome);
    this.ended(outcome);
    return true;
  }

  /**
   * The client went away. A queued holder leaves the queue (counted aborted, no slot to give
   * back). True when the holder is active: the subclass decides the outcome and calls end().
   */
  clientLeft(): boolean {
    if (this.state === QUEUED) {
      this.budget.limiter.cancel(this);
      this.state = DONE;
      this.budget.outcomes[O_ABORTED]++;
      this.leftFlow();
      this.ended(O_ABORTED);
      return false;
    }
    return this.state === ACTIVE;
  }

  get active(): boolean {
    return this.state === ACTIVE;
  }

  /** Holds a slot now: start the upstream work. */
  protected abstract forward(): void;
  /** Answer the client with a refusal of a request that waited: queue-timeout, or capacity when evicted (fairness). */
  protected abstract refuseQueued(reason: 'queue-timeout' | 'capacity'): void;
  /** The permit already ended with O_TIMEOUT: stop the upstream work and answer the client. */
  protected abstract timedOut(): void;
  /** Every way a holder ends passes here once (for the access log); a no-op by default. */
  protected ended(_outcome: OutcomeCode): void {}

  /** Fairness: forgets the flow once it holds nothing. */
  private leftFlow(): void {
    const f = this.flow;
    if (f !== null) f.owner.dropIfIdle(f);
  }
}

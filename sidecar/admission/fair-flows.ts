/**
 * Fairness between the flows of one class (a flow: the value of a header, or the client
 * address), in the spirit of Kubernetes API Priority and Fairness' fair queuing but with exact
 * flows instead of shuffle-sharded queues: a class at its limit gives each freed slot to the
 * waiting flow that holds the fewest slots (round-robin among equals), and its queue places are
 * shared: a flow holding fewer than its share (queue size ÷ flows with work) may take the newest
 * place of the flow holding the most. Below its limit the class admits anyone (work-conserving):
 * a lone flow gets all idle capacity.
 *
 * Flows exist only while they hold a slot or a queue place (idle ones are recycled), and there
 * are at most MAX_FLOWS; beyond that new keys share one overflow flow. Waiters link themselves
 * into their flow (no allocation per request).
 */
import type { DeadlineEntry } from '../deadline-list.js';

/** Flows tracked per class at once; more share OVERFLOW_KEY. */
export const MAX_FLOWS = 4096;
/** Longer keys are cut to this many characters. */
export const MAX_KEY_LENGTH = 256;
const OVERFLOW_KEY = '\u0000overflow';
/** Idle flow objects kept for reuse. */
const MAX_FREE = 256;

export interface FlowWaiter extends DeadlineEntry {
  /** The flow this request belongs to (set when it was created); null when the class has no fairness. */
  flow: Flow | null;
  fqPrev: FlowWaiter | null;
  fqNext: FlowWaiter | null;
  /** Lost its queue place to a flow with fewer: holds no slot, is answered with capacity. */
  evicted(): void;
}

export class Flow {
  key = '';
  inflight = 0;
  queued = 0;
  head: FlowWaiter | null = null;
  tail: FlowWaiter | null = null;
  /** Links in the owner's list of flows with waiters. */
  wPrev: Flow | null = null;
  wNext: Flow | null = null;

  constructor(readonly owner: FairFlows) {}
}

export class FairFlows {
  private readonly byKey = new Map<string, Flow>();
  private readonly free: Flow[] = [];
  private waitingHead: Flow | null = null;
  private waitingTail: Flow | null = null;
  /**
   * The flow key of the request being admitted: set by the caller just before admit(), read by
   * admit() and by the new request's constructor (one thread: nothing runs in between).
   */
  key = '';

  /** Flows holding a slot or a queue place. */
  get size(): number {
    return this.byKey.size;
  }

  /** The flow of `key` (created if absent). */
  flowFor(rawKey: string): Flow {
    const key = rawKey.length > MAX_KEY_LENGTH ? rawKey.slice(0, MAX_KEY_LENGTH) : rawKey;
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    const k = this.byKey.size >= MAX_FLOWS ? OVERFLOW_KEY : key;
    const again = k === key ? undefined : this.byKey.get(k);
    if (again !== undefined) return again;
    const f = this.free.pop() ?? new Flow(this);
    f.key = k;
    this.byKey.set(k, f);
    return f;
  }

  /** Forgets a flow that holds nothing (its object is reused). */
  dropIfIdle(f: Flow): void {
    if (f.inflight > 0 || f.queued > 0) return;
    if (this.byKey.get(f.key) !== f) return;
    this.byKey.delete(f.key);
    if (this.free.length < MAX_FREE) this.free.push(f);
  }

  enqueue(w: FlowWaiter): void {
    const f = w.flow as Flow;
    w.fqNext = null;
    w.fqPrev = f.tail;
    if (f.tail !== null) f.tail.fqNext = w;
    else f.head = w;
    f.tail = w;
    if (f.queued++ === 0) this.linkWaiting(f);
  }

  /** The waiter to admit next: the oldest of the waiting flow holding the fewest slots. */
  next(): FlowWaiter | null {
    let best: Flow | null = null;
    for (let f = this.waitingHead; f !== null; f = f.wNext) if (best === null || f.inflight < best.inflight) best = f;
    if (best === null) return null;
    const w = best.head as FlowWaiter;
    unlinkFlowWaiter(w);
    // Round-robin among flows holding as many: the one just served goes last.
    if (best.queued > 0) {
      this.unlinkWaiting(best);
      this.linkWaiting(best);
    }
    return w;
  }

  /**
   * The queue is full: may a request of flow `f` take a place? Yes when `f` holds fewer places
   * than its share and another flow holds more than `f`: that flow's newest waiter is returned
   * (unlinked from its flow) for the caller to evict. null: refuse the request.
   */
  victimFor(f: Flow, queueSize: number): FlowWaiter | null {
    const share = Math.max(1, Math.floor(queueSize / this.byKey.size));
    if (f.queued >= share) return null;
    let longest: Flow | null = null;
    for (let g = this.waitingHead; g !== null; g = g.wNext) if (longest === null || g.queued > longest.queued) longest = g;
    if (longest === null || longest === f || longest.queued <= f.queued + 1) return null;
    const w = longest.tail as FlowWaiter;
    unlinkFlowWaiter(w);
    return w;
  }

  linkWaiting(f: Flow): void {
    f.wNext = null;
    f.wPrev = this.waitingTail;
    if (this.waitingTail !== null) this.waitingTail.wNext = f;
    else this.waitingHead = f;
    this.waitingTail = f;
  }

  unlinkWaiting(f: Flow): void {
    if (f.wPrev !== null) f.wPrev.wNext = f.wNext;
    else this.waitingHead = f.wNext;
    if (f.wNext !== null) f.wNext.wPrev = f.wPrev;
    else this.waitingTail = f.wPrev;
    f.wPrev = f.wNext = null;
  }
}

/** Takes a queued waiter out of its flow (a no-op for one not queued in a flow). */
export function unlinkFlowWaiter(w: FlowWaiter): void {
  const f = w.flow;
  if (f === null || (f.head !== w && w.fqPrev === null)) return;
  if (w.fqPrev !== null) w.fqPrev.fqNext = w.fqNext;
  else f.head = w.fqNext;
  if (w.fqNext !== null) w.fqNext.fqPrev = w.fqPrev;
  else f.tail = w.fqPrev;
  w.fqPrev = w.fqNext = null;
  if (--f.queued === 0) f.owner.unlinkWaiting(f);
}

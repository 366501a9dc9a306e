/**
 * An intrusive FIFO of entries that each carry a deadline, with ONE timer for the whole list.
 * Used for a class's wait queue and for its in-flight upstream timeouts: within a class every
 * entry gets the same timeout, so deadlines grow with insertion order and only the head can be
 * due. Entries link themselves (no wrapper allocation) and are removed in O(1) on abort.
 */
export interface DeadlineEntry {
  dlPrev: DeadlineEntry | null;
  dlNext: DeadlineEntry | null;
  /** The list the entry is in, if any. */
  dlOwner: object | null;
  deadline: number;
}

export class DeadlineList<E extends DeadlineEntry> {
  private head: E | null = null;
  private tail: E | null = null;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.expireDue();
  };

  constructor(
    private readonly now: () => number,
    private readonly onExpire: (entry: E) => void,
  ) {}

  get size(): number {
    return this.count;
  }

  push(entry: E, deadline: number): void {
    entry.deadline = deadline;
    entry.dlOwner = this;
    entry.dlNext = null;
    entry.dlPrev = this.tail;
    if (this.tail) this.tail.dlNext = entry;
    else this.head = entry;
    this.tail = entry;
    this.count++;
    // Normally the pending timer is already earlier; only a shortened timeout re-arms.
    if (deadline < this.timerAt) this.arm(deadline);
  }

  /** Unlinks an entry; a no-op if it is not in this list. The timer is left alone: it re-arms when it fires. */
  remove(entry: E): void {
    if (entry.dlOwner !== this) return;
    const prev = entry.dlPrev as E | null;
    const next = entry.dlNext as E | null;
    if (prev) prev.dlNext = next;
    else this.head = next;
    if (next) next.dlPrev = prev;
    else this.tail = prev;
    entry.dlPrev = entry.dlNext = null;
    entry.dlOwner = null;
    this.count--;
  }

  /** Removes and returns the oldest entry. */
  shift(): E | null {
    const h = this.head;
    if (h) this.remove(h);
    return h;
  }

  /** Expires every entry whose deadline has passed (oldest first), then re-arms for the new head. */
  expireDue(now: number = this.now()): void {
    for (let h = this.head; h !== null && h.deadline <= now; h = this.head) {
      this.remove(h);
      this.onExpire(h);
    }
    if (this.head && this.head.deadline < this.timerAt) this.arm(this.head.deadline);
  }

  /** Stops the timer; entries stay linked. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - this.now())));
    this.timer.unref();
  }
}

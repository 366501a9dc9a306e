/**
 * A sliding window of send outcomes for one vendor, in fixed buckets so that recording and
 * reading are O(1) amortised and old outcomes leave the window a bucket at a time. Pure: the
 * time is passed in.
 */

/** Buckets per window: enough that the window slides smoothly, few enough to stay cheap. */
const BUCKETS = 10;

export interface WindowCounts {
  ok: number;
  fail: number;
}

export class OutcomeWindow {
  private readonly bucketMs: number;
  private readonly ok = new Array<number>(BUCKETS).fill(0);
  private readonly fail = new Array<number>(BUCKETS).fill(0);
  private okSum = 0;
  private failSum = 0;
  /** Absolute index (now / bucketMs) of the newest bucket. */
  private head = 0;

  constructor(windowSeconds: number) {
    this.bucketMs = Math.max(1, (windowSeconds * 1000) / BUCKETS);
  }

  record(success: boolean, nowMs: number): void {
    this.advance(nowMs);
    const i = this.head % BUCKETS;
    if (success) {
      this.ok[i]++;
      this.okSum++;
    } else {
      this.fail[i]++;
      this.failSum++;
    }
  }

  counts(nowMs: number): WindowCounts {
    this.advance(nowMs);
    return { ok: this.okSum, fail: this.failSum };
  }

  /** Success rate over the window, or null with fewer than minRequests outcomes in it. */
  rate(nowMs: number, minRequests: number): number | null {
    this.advance(nowMs);
    const total = this.okSum + this.failSum;
    return total === 0 || total < minRequests ? null : this.okSum / total;
  }

  reset(): void {
    this.ok.fill(0);
    this.fail.fill(0);
    this.okSum = 0;
    this.failSum = 0;
  }

  /** Drops the buckets that have slid out of the window since the last call. */
  private advance(nowMs: number): void {
    const idx = Math.floor(nowMs / this.bucketMs);
    if (idx <= this.head) return;
    const steps = Math.min(idx - this.head, BUCKETS);
    for (let s = 1; s <= steps; s++) {
      const i = (this.head + s) % BUCKETS;
      this.okSum -= this.ok[i];
      this.failSum -= this.fail[i];
      this.ok[i] = 0;
      this.fail[i] = 0;
    }
    this.head = idx;
  }
}

/**
 * Latency histogram with log-spaced buckets (each 10% wider than the last, from 0.1 ms to
 * ~2 min): constant memory, mergeable, percentiles within ~10%.
 */
const MIN_MS = 0.1;
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 150;

export class LogHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.counts[i]++;
    this.count++;
  }

  merge(other: LogHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
  }

  /** The upper bound (ms) of the bucket holding quantile q (0..1); null when empty. */
  percentile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return MIN_MS * GROWTH ** i;
    }
    return MIN_MS * GROWTH ** (BUCKETS - 1);
  }
}

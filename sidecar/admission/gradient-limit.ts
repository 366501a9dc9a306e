/**
 * An adaptive concurrency limit that follows the latency the class measures, after Envoy's
 * adaptive concurrency filter (its gradient controller; Netflix concurrency-limits' Gradient2 is
 * the same family). Per sampling window:
 *
 *   gradient = clamp(minRtt × (1 + BUFFER) / sampleRtt, 0.5, 2)
 *   limit    = clamp(gradient × limit + √(gradient × limit), minLimit, maxLimit)
 *
 * sampleRtt is the mean latency of the window; minRtt is the lowest window mean of the last one
 * to two baseline epochs (Envoy re-measures its minRTT periodically; a slowdown that lasts longer
 * than that becomes the new baseline). The √ headroom lets the limit probe upwards while latency
 * stays near the baseline. As in Gradient2, the limit does not grow while the class uses less
 * than half of it (app-limited: the latency says nothing about a higher limit); unlike Gradient2
 * it then drifts down towards twice the use (IDLE_DECAY of the gap per window), so a sudden
 * slowdown meets a limit near the real demand instead of a large idle one that would let slow
 * requests take every worker before the first of them has finished and been measured.
 *
 * Pure: time and samples are passed in; no timers, no allocation per sample.
 */

/** Latency tolerated above the baseline before the limit falls (Envoy's min_rtt_buffer default). */
export const BUFFER = 0.25;
/** A window closes at its first sample after this long… */
export const WINDOW_MS = 250;
/** …if it holds this many samples; a window that reaches MAX_WINDOW_MS closes with any. */
export const MIN_SAMPLES = 10;
export const MAX_WINDOW_MS = 1000;
/** minRtt forgets a window mean after one to two epochs. */
export const BASELINE_EPOCH_MS = 30_000;
/** App-limited: the share of the gap to twice the use closed per window. */
export const IDLE_DECAY = 0.2;
const MIN_GRADIENT = 0.5;
const MAX_GRADIENT = 2;

export interface AdaptiveBounds {
  minLimit: number;
  maxLimit: number;
}

export class GradientLimit {
  /** The limit to enforce (an integer within the bounds). */
  limit: number;
  minLimit: number;
  maxLimit: number;
  /** The unrounded estimate the controller steps. */
  private estimate: number;
  private windowStart = -1;
  private windowSum = 0;
  private windowCount = 0;
  private windowPeakInflight = 0;
  private epochStart = -1;
  private epochMin = Infinity;
  private previousEpochMin = Infinity;
  /** The last window's mean (for metrics and tests). */
  lastSampleRtt = NaN;

  constructor(bounds: AdaptiveBounds, initial: number) {
    this.minLimit = bounds.minLimit;
    this.maxLimit = bounds.maxLimit;
    this.estimate = clamp(initial, bounds.minLimit, bounds.maxLimit);
    this.limit = Math.round(this.estimate);
  }

  /** New bounds from a config change: the estimate is kept (clamped), not restarted. */
  setBounds(bounds: AdaptiveBounds): void {
    this.minLimit = bounds.minLimit;
    this.maxLimit = bounds.maxLimit;
    this.estimate = clamp(this.estimate, bounds.minLimit, bounds.maxLimit);
    this.limit = Math.round(this.estimate);
  }

  /** The lowest recent window mean: the latency the upstream gives when not overloaded. */
  get minRtt(): number {
    return Math.min(this.epochMin, this.previousEpochMin);
  }

  /**
   * One request's upstream latency (ms, from admission to the end), with the class's in-flight
   * count when it ended. True when the limit changed.
   */
  sample(rttMs: number, inflight: number, now: number): boolean {
    if (this.windowStart < 0) {
      this.windowStart = now;
      this.epochStart = now;
    }
    this.windowSum += rttMs;
    this.windowCount++;
    if (inflight > this.windowPeakInflight) this.windowPeakInflight = inflight;
    const age = now - this.windowStart;
    if (age < WINDOW_MS || (this.windowCount < MIN_SAMPLES && age < MAX_WINDOW_MS)) return false;
    return this.closeWindow(now);
  }

  private closeWindow(now: number): boolean {
    const sampleRtt = this.windowSum / this.windowCount;
    const peak = this.windowPeakInflight;
    this.lastSampleRtt = sampleRtt;
    this.windowStart = now;
    this.windowSum = 0;
    this.windowCount = 0;
    this.windowPeakInflight = 0;
    if (now - this.epochStart >= BASELINE_EPOCH_MS) {
      this.previousEpochMin = this.epochMin;
      this.epochMin = Infinity;
      this.epochStart = now;
    }
    if (sampleRtt < this.epochMin) this.epochMin = sampleRtt;
    const gradient = clamp((this.minRtt * (1 + BUFFER)) / Math.max(sampleRtt, 1e-3), MIN_GRADIENT, MAX_GRADIENT);
    if (gradient >= 1 && peak < this.estimate / 2) {
      // App-limited: a class using under half its limit learns nothing about a higher one.
      const floor = Math.max(this.minLimit, 2 * peak);
      this.estimate = clamp(this.estimate - (this.estimate - floor) * IDLE_DECAY, this.minLimit, this.maxLimit);
    } else {
      const scaled = gradient * this.estimate;
      this.estimate = clamp(scaled + Math.sqrt(scaled), this.minLimit, this.maxLimit);
    }
    const limit = Math.round(this.estimate);
    if (limit === this.limit) return false;
    this.limit = limit;
    return true;
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

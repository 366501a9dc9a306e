/**
 * How a class's upstream latency grows with the pod's upstream concurrency, for Shadow: a least
 * squares line `latency = a + b × concurrency` over the class's recent requests, fitted only on
 * requests that ran while the upstream carried exactly what Enforce would have sent it (no
 * would-be refused or queued request running). Shadow then asks what a request would take at the
 * concurrency Enforce would have allowed, instead of what it takes under the overload Shadow lets
 * through (docs/sidecar-data-plane.md, "Shadow").
 *
 * First order on purpose: latency linear in concurrency is what a server of fixed capacity does
 * beyond saturation (Little's law) and what a dependency slowing with load does before it. The
 * fit forgets old samples exponentially (DECAY per sample), so it follows a changing upstream while
 * the class is quiet and holds still while it is overloaded (no clean samples arrive then).
 *
 * Pure: no time, no allocation per sample.
 */

/** Weight kept per new sample: the fit's memory is about 1 / (1 - DECAY) = 512 samples. */
export const DECAY = 1 - 1 / 512;
/** Below this weight of samples the fit answers NaN (not known yet). */
export const MIN_WEIGHT = 20;
/** Below this variance of concurrency the slope is not identifiable: the fit is the mean. */
export const MIN_VARIANCE = 0.5;

export class LatencyModel {
  private w = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;

  /** One request's latency (ms) at the pod's upstream concurrency when it started (itself included). */
  add(concurrency: number, latencyMs: number): void {
    this.w = this.w * DECAY + 1;
    this.sx = this.sx * DECAY + concurrency;
    this.sy = this.sy * DECAY + latencyMs;
    this.sxx = this.sxx * DECAY + concurrency * concurrency;
    this.sxy = this.sxy * DECAY + concurrency * latencyMs;
  }

  /** The weight of the samples the fit holds. */
  get weight(): number {
    return this.w;
  }

  /** Latency growth per concurrent request (ms), never negative; 0 when not identifiable. */
  get slope(): number {
    if (this.w < MIN_WEIGHT) return 0;
    const mx = this.sx / this.w;
    const varX = this.sxx / this.w - mx * mx;
    if (varX < MIN_VARIANCE) return 0;
    const cov = this.sxy / this.w - mx * (this.sy / this.w);
    return cov > 0 ? cov / varX : 0;
  }

  /** The latency (ms) expected at this concurrency; NaN while the fit has too few samples. */
  predict(concurrency: number): number {
    if (this.w < MIN_WEIGHT) return NaN;
    const mx = this.sx / this.w;
    const my = this.sy / this.w;
    const y = my + this.slope * (concurrency - mx);
    return y > 0 ? y : 0;
  }
}

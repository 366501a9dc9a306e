/**
 * Vendor failover for one route, as a pure state machine (time is passed in):
 *
 * - The route sends to its active vendor. A sliding window per vendor tracks success; when the
 *   active vendor's rate falls below minSuccessRate (with at least minRequests in the window)
 *   the route moves to the next healthy vendor in order.
 * - Hard failures (connection refused; CONSECUTIVE_TIMEOUTS timeouts in a row) move at once.
 * - A vendor left behind rests for cooldownSeconds; then 1 send in PROBE_EVERY (one at a time)
 *   probes it (half-open) and the route moves back after PROBE_SUCCESSES successful probes in a
 *   row. A failed probe starts the cooldown again.
 * - `pin` forces a vendor: no failover, no probes.
 * - An operator-chosen vendor (cluster-wide decision) is followed: locally only hard failures
 *   move the route off it, and probes bring it back. While on the operator's vendor, probes keep
 *   measuring the preferred vendor so the operator can see it recover.
 */
import { isVendorFailure, type AttemptOutcome } from './outcome.js';
import { OutcomeWindow, type WindowCounts } from './window.js';

export const CONSECUTIVE_TIMEOUTS = 3;
export const PROBE_EVERY = 10;
export const PROBE_SUCCESSES = 3;

export interface FailoverSettings {
  minSuccessRate: number;
  windowSeconds: number;
  minRequests: number;
  cooldownSeconds: number;
}

export type FailoverReason = 'success-rate' | 'hard-failure' | 'recovered' | 'pin' | 'operator';

export interface Transition {
  from: string;
  to: string;
  reason: FailoverReason;
}

export class RouteFailover {
  private readonly windows: OutcomeWindow[];
  /** Until when a vendor that was left behind rests (no probes, last choice for a retry). */
  private readonly downUntil: number[];
  private readonly timeoutsInARow: number[];
  private readonly cooldownMs: number;
  private activeIdx = 0;
  private pinned = -1;
  private operator = -1;
  private probeSeq = 0;
  private probeVendor = -1;
  private probeOk = 0;

  constructor(
    readonly vendors: readonly string[],
    private readonly settings: FailoverSettings,
    private readonly onTransition: (t: Transition) => void = () => {},
  ) {
    this.windows = vendors.map(() => new OutcomeWindow(settings.windowSeconds));
    this.downUntil = vendors.map(() => 0);
    this.timeoutsInARow = vendors.map(() => 0);
    this.cooldownMs = settings.cooldownSeconds * 1000;
  }

  get active(): number {
    return this.activeIdx;
  }

  get activeName(): string {
    return this.vendors[this.activeIdx];
  }

  /** Applies the config's `pin` and the operator's `activeVendor` ("" for none). */
  direct(pin: string, operatorActive: string, nowMs: number): void {
    const p = this.vendors.indexOf(pin);
    if (p !== this.pinned) {
      this.pinned = p;
      if (p >= 0) this.moveTo(p, 'pin');
    }
    const o = this.vendors.indexOf(operatorActive);
    if (o !== this.operator) {
      this.operator = o;
      if (o >= 0 && this.pinned < 0 && o !== this.activeIdx) {
        this.downUntil[this.activeIdx] = nowMs + this.cooldownMs;
        this.moveTo(o, 'operator');
      }
    }
  }

  /** The vendor for a new send: the active one, or now and then a half-open probe. */
  pick(nowMs: number): number {
    if (this.pinned >= 0) return this.pinned;
    if (this.probeVendor < 0) {
      const t = this.probeTarget(nowMs);
      if (t >= 0 && ++this.probeSeq % PROBE_EVERY === 0) {
        this.probeVendor = t;
        return t;
      }
    }
    return this.activeIdx;
  }

  /**
   * The vendor for a retry after the vendors in `triedMask` (bit i = vendor i) failed, or -1.
   * Healthy vendors first, in order after the active one; never a pinned route.
   */
  retryVendor(triedMask: number, nowMs: number): number {
    if (this.pinned >= 0) return -1;
    const n = this.vendors.length;
    let fallback = -1;
    for (let i = 0; i < n; i++) {
      const c = (this.activeIdx + i) % n;
      if (triedMask & (1 << c) || this.windowFailing(c, nowMs)) continue;
      if (this.downUntil[c] <= nowMs) return c;
      if (fallback < 0) fallback = c;
    }
    return fallback;
  }

  /** Records one attempt's outcome at vendor `v` and moves the route if that calls for it. */
  record(v: number, outcome: AttemptOutcome, nowMs: number): void {
    const answered = outcome === 'success' || outcome === 'caller';
    if (outcome !== 'caller') this.windows[v].record(outcome === 'success', nowMs);
    this.timeoutsInARow[v] = outcome === 'timeout' ? this.timeoutsInARow[v] + 1 : 0;
    if (v === this.probeVendor) this.probeResult(v, answered, nowMs);
    if (v !== this.activeIdx || this.pinned >= 0 || !isVendorFailure(outcome)) return;
    if (outcome === 'refused' || this.timeoutsInARow[v] >= CONSECUTIVE_TIMEOUTS) {
      this.failAway(v, 'hard-failure', nowMs, true);
    } else if (this.operator < 0 && this.windowFailing(v, nowMs)) {
      this.failAway(v, 'success-rate', nowMs, false);
    }
  }

  counts(v: number, nowMs: number): WindowCounts {
    return this.windows[v].counts(nowMs);
  }

  /** Success rate in the window, or null before minRequests. */
  rate(v: number, nowMs: number): number | null {
    return this.windows[v].rate(nowMs, this.settings.minRequests);
  }

  private windowFailing(v: number, nowMs: number): boolean {
    const r = this.windows[v].rate(nowMs, this.settings.minRequests);
    return r !== null && r < this.settings.minSuccessRate;
  }

  /**
   * Whom to probe: locally, the first vendor; when the route left the operator's choice on a
   * hard failure, that choice; when on the operator's choice, the first vendor (for the
   * operator's view only). -1 when on it already or while it rests.
   */
  private probeTarget(nowMs: number): number {
    const t = this.operator >= 0 && this.activeIdx !== this.operator ? this.operator : 0;
    return t === this.activeIdx || this.downUntil[t] > nowMs ? -1 : t;
  }

  private probeResult(v: number, answered: boolean, nowMs: number): void {
    this.probeVendor = -1;
    if (!answered) {
      this.probeOk = 0;
      this.downUntil[v] = nowMs + this.cooldownMs;
      return;
    }
    if (++this.probeOk < PROBE_SUCCESSES) return;
    this.probeOk = 0;
    const mayMove = this.operator < 0 || v === this.operator;
    if (!mayMove || v === this.activeIdx) return;
    // The failures that made us leave may still be in the window: start it afresh.
    this.windows[v].reset();
    this.moveTo(v, 'recovered');
  }

  private failAway(v: number, reason: FailoverReason, nowMs: number, hard: boolean): void {
    this.downUntil[v] = nowMs + this.cooldownMs;
    const n = this.vendors.length;
    let to = -1;
    let notFailing = -1;
    for (let i = 1; i < n && to < 0; i++) {
      const c = (v + i) % n;
      if (this.windowFailing(c, nowMs)) continue;
      if (this.downUntil[c] <= nowMs) to = c;
      else if (notFailing < 0) notFailing = c;
    }
    if (to < 0) to = notFailing;
    if (to < 0 && hard && n > 1) to = (v + 1) % n;
    if (to >= 0) this.moveTo(to, reason);
  }

  private moveTo(to: number, reason: FailoverReason): void {
    if (to === this.activeIdx) return;
    const from = this.vendors[this.activeIdx];
    this.activeIdx = to;
    this.probeOk = 0;
    this.onTransition({ from, to: this.vendors[to], reason });
  }
}

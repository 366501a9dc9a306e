/**
 * A compiled route made live: its vendor endpoints, failover state, and its budget (the route's
 * in-flight limit and load-level shedding as an admission budget, see admission/permit.ts). A
 * new config reuses the failover state (windows, active vendor) when the vendor list and
 * failover settings did not change, so a config update does not forget a failing vendor.
 */
import type { CompiledRoute } from '../../api/config.js';
import type { AccessLog } from '../admission/access-log.js';
import { EGRESS_REFUSALS, OUTCOMES, type EgressRefusal } from '../admission/outcomes.js';
import type { Budget, Permit } from '../admission/permit.js';
import { Refusals } from '../admission/refusals.js';
import { DeadlineList } from '../deadline-list.js';
import { ascii } from '../http1/chars.js';
import { Limiter } from '../limiter.js';
import { RouteFailover } from './failover.js';
import type { EgressMetrics } from './metrics.js';
import { isRetrySafe } from './outcome.js';
import type { VendorTarget } from './vendor-client.js';

const DEFAULT_KEY_HEADER = 'idempotency-key';
/** Routes have no rejectStatus field: their load refusals are 503. */
const ROUTE_REJECT_STATUS = 503;

export class EgressRoute implements Budget {
  readonly name: string;
  readonly vendorNames: readonly string[];
  readonly failover: RouteFailover;
  targets: VendorTarget[] = [];
  compiled: CompiledRoute;
  /**
   * Lower-case name of the idempotency-key header: the dedup header, or the standard
   * Idempotency-Key without dedup (a keyed send may still be retried on another vendor).
   */
  keyHeader = DEFAULT_KEY_HEADER;
  /** keyHeader as bytes, for finding it in a parsed head. */
  keyName = ascii(DEFAULT_KEY_HEADER);
  /** A send's whole budget when the caller does not say: twice the slowest vendor's timeout. */
  defaultBudgetMs = 0;
  /** The route's limit (Infinity without one); no queue: a full route refuses or defers at once. */
  readonly limiter: Limiter;
  shedAtLevel = Infinity;
  /** Sends are bounded by their own budget and the vendors' timeouts (send.ts), not by the route's list. */
  readonly timeoutMs = 0;
  readonly timeouts: DeadlineList<Permit>;
  /** How admitted sends ended, by OutcomeCode (the admission core's counts; the metrics export refusals by reason instead). */
  readonly outcomes = new Float64Array(OUTCOMES.length);
  readonly refusals: Refusals<EgressRefusal>;
  /** Refusals by EGRESS_REFUSALS index, kept by the metrics for the process's life. */
  readonly rejected: Float64Array;
  /** Per vendor: attempt counts indexed by OUTCOME_INDEX (read by the metrics at scrape time). */
  readonly counts: Float64Array[];
  readonly now: () => number;

  constructor(compiled: CompiledRoute, metrics: EgressMetrics, now: () => number, accessLog: AccessLog | null) {
    this.name = compiled.name;
    this.compiled = compiled;
    this.now = now;
    this.vendorNames = compiled.vendors.map((v) => v.name);
    this.failover = new RouteFailover(this.vendorNames, compiled.failover, (t) => {
      metrics.failovers.inc({ route: this.name, from: t.from, to: t.to });
      metrics.showActive(this.name, this.vendorNames, t.to);
    });
    this.counts = this.vendorNames.map((vendor) => metrics.attemptCounts(this.name, vendor));
    this.limiter = new Limiter({ limit: compiled.limit ?? Infinity, queueSize: 0, queueTimeoutMs: 1 }, now);
    this.timeouts = new DeadlineList<Permit>(now, expirePermit);
    this.refusals = new Refusals(compiled.name, ROUTE_REJECT_STATUS, EGRESS_REFUSALS, accessLog);
    this.rejected = metrics.rejectedCounts(compiled.name);
  }

  /** Whether `next` can keep this route's failover state. */
  sameShape(next: CompiledRoute): boolean {
    const a = this.compiled;
    return (
      a.vendors.length === next.vendors.length &&
      a.vendors.every((v, i) => v.name === next.vendors[i].name) &&
      JSON.stringify(a.failover) === JSON.stringify(next.failover)
    );
  }

  /** Takes the new compiled route; endpoints come from the shared pool (by URL). */
  update(compiled: CompiledRoute, target: (v: CompiledRoute['vendors'][number]) => VendorTarget, nowMs: number): void {
    this.compiled = compiled;
    this.targets = compiled.vendors.map(target);
    this.keyHeader = compiled.dedup ? compiled.dedup.header.toLowerCase() : DEFAULT_KEY_HEADER;
    this.keyName = ascii(this.keyHeader);
    this.defaultBudgetMs = 2 * Math.max(...compiled.vendors.map((v) => v.timeoutMs));
    this.shedAtLevel = compiled.shedAtLevel ?? Infinity;
    this.limiter.update({ limit: compiled.limit ?? Infinity, queueSize: 0, queueTimeoutMs: 1 });
    this.failover.direct(compiled.pin, compiled.activeVendor, nowMs);
  }

  /** Whether a failed send may be tried on another vendor (retry-safe, several vendors, none pinned). */
  mayRetry(method: string, hasKey: boolean): boolean {
    return this.vendorNames.length > 1 && this.compiled.pin === '' && isRetrySafe(method, hasKey);
  }

  released(): void {
    this.limiter.release();
  }
}

function expirePermit(p: Permit): void {
  p.upstreamTimedOut();
}

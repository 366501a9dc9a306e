/**
 * A compiled route made live: its vendor endpoints, failover state and in-flight count. A new
 * config reuses the failover state (windows, active vendor) when the vendor list and failover
 * settings did not change, so a config update does not forget a failing vendor.
 */
import type { CompiledRoute } from '../../api/config.js';
import { RouteFailover } from './failover.js';
import type { EgressMetrics } from './metrics.js';
import { VendorTarget } from './vendor-client.js';

const DEFAULT_KEY_HEADER = 'idempotency-key';

export class EgressRoute {
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
  /** A send's whole budget when the caller does not say: twice the slowest vendor's timeout. */
  defaultBudgetMs = 0;
  inflight = 0;
  /** Per vendor: attempt counts indexed by OUTCOME_INDEX (read by the metrics at scrape time). */
  readonly counts: Float64Array[];

  constructor(compiled: CompiledRoute, metrics: EgressMetrics) {
    this.name = compiled.name;
    this.compiled = compiled;
    this.vendorNames = compiled.vendors.map((v) => v.name);
    this.failover = new RouteFailover(this.vendorNames, compiled.failover, (t) => {
      metrics.failovers.inc({ route: this.name, from: t.from, to: t.to });
      metrics.showActive(this.name, this.vendorNames, t.to);
    });
    this.counts = this.vendorNames.map((vendor) => metrics.attemptCounts(this.name, vendor));
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
    this.defaultBudgetMs = 2 * Math.max(...compiled.vendors.map((v) => v.timeoutMs));
    this.failover.direct(compiled.pin, compiled.activeVendor, nowMs);
  }
}

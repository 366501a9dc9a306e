/**
 * The egress's Prometheus metrics (names from the design brief, plus the egress's own). What
 * changes on every send (attempt outcomes, refusals, sends in flight) is kept in plain numbers that
 * prom-client reads at scrape time: a prom-client inc() hashes its labels on every call.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { EGRESS_REFUSALS } from '../admission/outcomes.js';
import { ATTEMPT_OUTCOMES } from './outcome.js';

export interface EgressMetricsSource {
  /** Per route and vendor: success rate in the window, or null before minRequests. */
  forEachRate(fn: (route: string, vendor: string, rate: number | null) => void): void;
  /** Per live route: its sends in flight. */
  forEachInflight(fn: (route: string, inflight: number) => void): void;
}

export class EgressMetrics {
  /** Attempt counts per `route vendor`, indexed like ATTEMPT_OUTCOMES; kept for the process's life so counters never go back. */
  private readonly attempts = new Map<string, { route: string; vendor: string; counts: Float64Array }>();
  readonly vendorActive: Gauge<'route' | 'vendor'>;
  readonly failovers: Counter<'route' | 'from' | 'to'>;
  readonly dedupSuppressed: Counter<'route'>;
  readonly dedupBypassed: Counter<'route'>;
  /** Refusal counts per route, indexed like EGRESS_REFUSALS; kept for the process's life. */
  private readonly rejected = new Map<string, Float64Array>();

  constructor(registry: Registry, source: EgressMetricsSource) {
    const registers = [registry];
    const attempts = this.attempts;
    const rejected = this.rejected;
    new Counter({
      name: 'spillway_vendor_requests_total',
      help: 'Egress attempts per vendor by outcome (success, failure, caller, timeout, refused, error).',
      labelNames: ['route', 'vendor', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const { route, vendor, counts } of attempts.values()) {
          // Every outcome, zeros included: a series that first appears at 1 loses that 1 in rate().
          for (let i = 0; i < ATTEMPT_OUTCOMES.length; i++) this.labels(route, vendor, ATTEMPT_OUTCOMES[i]).inc(counts[i]);
        }
      },
    });
    this.vendorActive = new Gauge({
      name: 'spillway_vendor_active',
      help: '1 for the vendor a route sends to now, 0 for the others.',
      labelNames: ['route', 'vendor'],
      registers,
    });
    new Gauge({
      name: 'spillway_vendor_success_ratio',
      help: "Share of a vendor's attempts that succeeded over the route's failover window, 0..1 (absent before minRequests).",
      labelNames: ['route', 'vendor'],
      registers,
      collect() {
        this.reset();
        source.forEachRate((route, vendor, rate) => {
          if (rate !== null) this.set({ route, vendor }, rate);
        });
      },
    });
    this.failovers = new Counter({
      name: 'spillway_vendor_failovers_total',
      help: 'Times a route moved from one vendor to another.',
      labelNames: ['route', 'from', 'to'],
      registers,
    });
    this.dedupSuppressed = new Counter({
      name: 'spillway_dedup_suppressed_total',
      help: 'Sends not repeated because their idempotency key was already claimed.',
      labelNames: ['route'],
      registers,
    });
    this.dedupBypassed = new Counter({
      name: 'spillway_dedup_bypassed_total',
      help: 'Sends made without duplicate suppression because Redis was unreachable (onRedisDown: send).',
      labelNames: ['route'],
      registers,
    });
    new Counter({
      name: 'spillway_egress_rejected_total',
      help: 'Egress sends refused by the sidecar, by reason.',
      labelNames: ['route', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [route, counts] of rejected) {
          for (let i = 0; i < EGRESS_REFUSALS.length; i++) if (counts[i] > 0) this.labels(route, EGRESS_REFUSALS[i]).inc(counts[i]);
        }
      },
    });
    new Gauge({
      name: 'spillway_egress_inflight',
      help: 'Egress sends in flight per route.',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        source.forEachInflight((route, n) => this.set({ route }, n));
      },
    });
  }

  /** The attempt counts of one route's vendor, indexed like ATTEMPT_OUTCOMES, to be incremented in place. */
  attemptCounts(route: string, vendor: string): Float64Array {
    const k = `${route} ${vendor}`;
    let a = this.attempts.get(k);
    if (!a) {
      a = { route, vendor, counts: new Float64Array(ATTEMPT_OUTCOMES.length) };
      this.attempts.set(k, a);
    }
    return a.counts;
  }

  /** A route's refusal counts, indexed like EGRESS_REFUSALS, to be incremented in place. */
  rejectedCounts(route: string): Float64Array {
    let c = this.rejected.get(route);
    if (!c) {
      c = new Float64Array(EGRESS_REFUSALS.length);
      this.rejected.set(route, c);
    }
    return c;
  }

  showActive(route: string, vendors: readonly string[], active: string): void {
    for (const v of vendors) this.vendorActive.set({ route, vendor: v }, v === active ? 1 : 0);
  }

  forgetRoute(route: string, vendors: readonly string[]): void {
    for (const v of vendors) this.vendorActive.remove({ route, vendor: v });
  }
}

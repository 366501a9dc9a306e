/** The egress's Prometheus metrics (names from the design brief, plus the egress's own). */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface VendorRateSource {
  /** Per route and vendor: success rate in the window, or null before minRequests. */
  forEachRate(fn: (route: string, vendor: string, rate: number | null) => void): void;
}

export class EgressMetrics {
  readonly vendorRequests: Counter<'route' | 'vendor' | 'outcome'>;
  readonly vendorActive: Gauge<'route' | 'vendor'>;
  readonly failovers: Counter<'route' | 'from' | 'to'>;
  readonly dedupSuppressed: Counter<'route'>;
  readonly dedupBypassed: Counter<'route'>;
  readonly rejected: Counter<'route' | 'reason'>;
  readonly inflight: Gauge<'route'>;

  constructor(registry: Registry, rates: VendorRateSource) {
    const registers = [registry];
    this.vendorRequests = new Counter({
      name: 'spillway_vendor_requests_total',
      help: 'Egress attempts per vendor by outcome (success, failure, caller, timeout, refused, error).',
      labelNames: ['route', 'vendor', 'outcome'],
      registers,
    });
    this.vendorActive = new Gauge({
      name: 'spillway_vendor_active',
      help: '1 for the vendor a route sends to now, 0 for the others.',
      labelNames: ['route', 'vendor'],
      registers,
    });
    new Gauge({
      name: 'spillway_vendor_success_rate',
      help: "Vendor success rate over the route's failover window (absent before minRequests).",
      labelNames: ['route', 'vendor'],
      registers,
      collect() {
        this.reset();
        rates.forEachRate((route, vendor, rate) => {
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
    this.rejected = new Counter({
      name: 'spillway_egress_rejected_total',
      help: 'Egress sends refused by the sidecar, by reason.',
      labelNames: ['route', 'reason'],
      registers,
    });
    this.inflight = new Gauge({
      name: 'spillway_egress_inflight',
      help: 'Egress sends in flight per route.',
      labelNames: ['route'],
      registers,
    });
  }

  showActive(route: string, vendors: readonly string[], active: string): void {
    for (const v of vendors) this.vendorActive.set({ route, vendor: v }, v === active ? 1 : 0);
  }

  forgetRoute(route: string, vendors: readonly string[]): void {
    for (const v of vendors) this.vendorActive.remove({ route, vendor: v });
    this.inflight.remove({ route });
  }
}

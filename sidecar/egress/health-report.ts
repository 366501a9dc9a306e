/**
 * Every few seconds, this pod's per-vendor window counts go to Redis for the operator
 * (hash `spillway:vendor-health:<ns>/<target>:<route>`, field = pod name, see
 * api/vendor-health.ts), with an expiry so a workload that stops reporting leaves nothing.
 */
import { DEFAULT_MAX_REPORT_AGE_MS, encodeReport, vendorHealthKey, type VendorCounts } from '../../api/vendor-health.js';
import type { EgressRedis } from './redis.js';
import type { EgressRoute } from './route.js';

export const REPORT_INTERVAL_MS = 2000;

export class HealthReporter {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: EgressRedis,
    private readonly target: string,
    private readonly podName: string,
    private readonly routes: () => Iterable<EgressRoute>,
    private readonly now: () => number,
    private readonly intervalMs = REPORT_INTERVAL_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.reportOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round of reports; a Redis outage just skips it. */
  async reportOnce(): Promise<void> {
    const t = this.now();
    // One pipeline per route hash: in Cluster mode the routes' hashes live in different slots.
    const writes: Promise<unknown>[] = [];
    for (const r of this.routes()) {
      const vendors: Record<string, VendorCounts> = {};
      r.vendorNames.forEach((name, i) => (vendors[name] = r.failover.counts(i, t)));
      const key = vendorHealthKey(this.target, r.name);
      const report = encodeReport({ at: t, active: r.failover.activeName, vendors });
      writes.push(this.redis.pipeline().hset(key, this.podName, report).pexpire(key, 2 * DEFAULT_MAX_REPORT_AGE_MS).exec());
    }
    try {
      await Promise.all(writes);
    } catch {
      // Redis away: the next round reports again.
    }
  }
}

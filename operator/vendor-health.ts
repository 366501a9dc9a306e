/**
 * The cluster-wide vendor view (leader only). Every few seconds, for each policy published with
 * routes, the pods' vendor reports are read from Redis and aggregated (api/vendor-health.ts)
 * into one active vendor per route for the whole workload. When a choice differs from what is
 * published, or the health shown in status moved, the policy is enqueued: its reconcile compiles
 * with these choices (so every pod follows one vendor) and writes them to status.
 */
import type { CompiledBody } from '../api/compile.js';
import type { CompiledRoute } from '../api/config.js';
import type { TrafficPolicyStatus } from '../api/policy.js';
import { aggregateRoute, type ReportRejectReason, type RouteHealth } from '../api/vendor-health.js';
import { systemClock, type Clock } from './clock.js';
import type { Logger } from '../lib/log.js';

export type StatusRoute = NonNullable<TrafficPolicyStatus['routes']>[number];

export interface ReportKey {
  /** `namespace/target`. */
  target: string;
  route: string;
}

export interface VendorReportReader {
  /**
   * Each key's hash (field = pod, value = report JSON), in order; {} where there is none, null
   * where the key is not a hash. Values may be cut just past MAX_REPORT_BYTES (still refused as too large).
   */
  readVendorReports(keys: readonly ReportKey[]): Promise<Array<Record<string, string> | null>>;
}

export const DEFAULT_VENDOR_HEALTH_INTERVAL_MS = 5000;

export interface VendorHealthOptions {
  reader: VendorReportReader;
  /** The policy (`ns/name`) should be reconciled: a choice or the status view changed. */
  onChange(policyKey: string): void;
  /**
   * A pod's report was ignored as malformed (it counts for nothing). Called when it first
   * appears, not again on every round while the same pod's report stays refused for the same reason.
   */
  onRejected?(reason: ReportRejectReason): void;
  intervalMs?: number;
  clock?: Clock;
  log?: Logger;
}

interface Tracked {
  target: string;
  /** Routes as last published (their activeVendor is what the pods follow now). */
  routes: CompiledRoute[];
  /** Latest aggregate per route (only rounds in which some pod reported). */
  health: Map<string, RouteHealth>;
  /** The status view last handed out, to tell whether it moved. */
  view: string;
  /** `route pod reason` of the reports refused in the last round. */
  rejected: Set<string>;
}

export class VendorHealthTracker {
  private readonly tracked = new Map<string, Tracked>();
  private readonly clock: Clock;
  private timer: unknown = null;
  private running = false;
  private lastError = '';

  constructor(private readonly opts: VendorHealthOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** The reconciler published `body` for a policy: track its routes (or stop, without routes). */
  published(policyKey: string, body: CompiledBody): void {
    if (body.routes.length === 0) {
      this.tracked.delete(policyKey);
      return;
    }
    const prev = this.tracked.get(policyKey);
    const health = prev && prev.target === body.target ? prev.health : new Map<string, RouteHealth>();
    for (const name of health.keys()) if (!body.routes.some((r) => r.name === name)) health.delete(name);
    this.tracked.set(policyKey, { target: body.target, routes: body.routes, health, view: prev?.view ?? '', rejected: prev?.rejected ?? new Set() });
  }

  forget(policyKey: string): void {
    this.tracked.delete(policyKey);
  }

  /** The active vendor chosen per route (routes with no decision yet are absent). */
  activeVendors(policyKey: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [route, h] of this.tracked.get(policyKey)?.health ?? []) out[route] = h.activeVendor;
    return out;
  }

  health(policyKey: string, route: string): RouteHealth | undefined {
    return this.tracked.get(policyKey)?.health.get(route);
  }

  /** Per-vendor health for status, per route that has an aggregate. */
  statusVendors(policyKey: string, route: string): StatusRoute['vendors'] | undefined {
    const h = this.health(policyKey, route);
    return h?.vendors.map((v) =>
      v.successRate === null ? { name: v.name, requests: v.requests } : { name: v.name, successRate: round2(v.successRate), requests: v.requests },
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** One round: read every tracked route's reports in one round trip, decide, enqueue changes. */
  async poll(): Promise<void> {
    const entries = [...this.tracked.entries()];
    const keys: ReportKey[] = [];
    for (const [, t] of entries) for (const r of t.routes) keys.push({ target: t.target, route: r.name });
    if (keys.length === 0) return;
    let reports: Array<Record<string, string> | null>;
    try {
      reports = await this.opts.reader.readVendorReports(keys);
      if (this.lastError) this.opts.log?.info('reading vendor reports again');
      this.lastError = '';
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (msg !== this.lastError) this.opts.log?.warn('cannot read vendor reports; retrying next round', { err });
      this.lastError = msg;
      return;
    }
    const now = this.clock.now();
    let i = 0;
    for (const [policyKey, t] of entries) {
      const hashes = t.routes.map(() => reports[i++]);
      // A policy forgotten or republished while we read: its next round decides.
      if (this.tracked.get(policyKey) !== t) continue;
      let changed = false;
      const rejected = new Set<string>();
      for (const [j, route] of t.routes.entries()) {
        const fields = hashes[j] ?? {};
        const prev = t.health.get(route.name);
        const previous = prev
          ? { activeVendor: prev.activeVendor, sinceMs: prev.sinceMs }
          : route.activeVendor
            ? { activeVendor: route.activeVendor, sinceMs: now }
            : undefined;
        const h = aggregateRoute(route, fields, previous, now);
        const refused = hashes[j] === null ? [{ pod: '*', reason: 'wrong-type' as const }, ...h.rejected] : h.rejected;
        for (const r of refused) {
          const id = `${route.name} ${r.pod} ${r.reason}`;
          rejected.add(id);
          if (t.rejected.has(id)) continue;
          this.opts.onRejected?.(r.reason);
          const whose = r.reason === 'wrong-type' ? 'reports (the key is not a hash)' : `report of pod ${JSON.stringify(r.pod)}`;
          this.opts.log?.warn(`vendor health: ${whose} for ${t.target} route ${route.name} ignored: ${r.reason}`, { target: t.target, route: route.name, pod: r.pod, reason: r.reason });
        }
        if (h.pods === 0) continue; // nobody reported (or only malformed reports): keep what the pods follow
        t.health.set(route.name, h);
        if (h.activeVendor !== route.activeVendor) changed = true;
      }
      t.rejected = rejected;
      const view =
        t.health.size === 0 ? '' : JSON.stringify(t.routes.map((r) => [r.name, t.health.get(r.name)?.activeVendor, this.statusVendors(policyKey, r.name)]));
      if (view !== t.view) {
        t.view = view;
        changed = true;
      }
      if (changed) this.opts.onChange(policyKey);
    }
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.poll().finally(() => {
        if (this.running) this.schedule();
      });
    }, this.opts.intervalMs ?? DEFAULT_VENDOR_HEALTH_INTERVAL_MS);
  }
}

/** Two decimals: enough for status, and stable enough that status is not rewritten for noise. */
function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** The VendorFailover event message: "route push: fcm-a → fcm-b (success rate 0.61 < 0.90)". */
export function failoverMessage(route: CompiledRoute, from: string, to: string, h: RouteHealth | undefined): string {
  const min = route.failover.minSuccessRate.toFixed(2);
  const rate = (name: string) => h?.vendors.find((v) => v.name === name)?.successRate;
  let why: string;
  if (h?.reason === 'pin' || route.pin === to) why = 'pinned';
  else if (h?.reason === 'recovered') why = `${to} recovered: success rate ${fmt(rate(to))} ≥ ${min}`;
  else why = `success rate ${fmt(rate(from))} < ${min}`;
  return `route ${route.name}: ${from} → ${to} (${why})`;
}

function fmt(x: number | null | undefined): string {
  return x === null || x === undefined ? 'n/a' : x.toFixed(2);
}

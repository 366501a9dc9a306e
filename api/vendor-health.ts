/**
 * Cluster-wide vendor health: every sidecar reports its per-vendor window counts to Redis
 * (hash `spillway:vendor-health:<ns>/<target>:<route>`, one field per pod); the operator reads
 * the hash and calls aggregateRoute() to get per-vendor success rates and the one vendor the
 * whole workload should use, so pods do not split between vendors. Pure: no I/O, time passed in.
 *
 * The rules are the sidecar's (sidecar/egress/failover.ts), applied to the summed counts:
 * `pin` wins; the active vendor fails when its success rate is below minSuccessRate with at
 * least minRequests in the window, and the route moves to the next vendor in order that is not
 * failing; a vendor earlier in order is taken back once cooldownSeconds have passed since the
 * last change and its (probe) traffic shows at least RECOVERY_QUORUM requests at a healthy rate.
 * Hard failures (connection refused, hangs) are left to each sidecar's local fast path.
 */
import type { CompiledRoute } from './config.js';

export const VENDOR_HEALTH_PREFIX = 'spillway:vendor-health:';
/** Reports older than this are ignored (a pod that stopped reporting is gone). */
export const DEFAULT_MAX_REPORT_AGE_MS = 15_000;
/** Requests a recovering vendor must show (across pods) before the workload moves back. */
export const RECOVERY_QUORUM = 5;

export function vendorHealthKey(target: string, route: string): string {
  return `${VENDOR_HEALTH_PREFIX}${target}:${route}`;
}

export interface VendorCounts {
  ok: number;
  fail: number;
}

/** One pod's report for one route: the value of its field in the hash (JSON). */
export interface PodVendorReport {
  /** When it was written (epoch ms). */
  at: number;
  /** The vendor this pod is sending to. */
  active: string;
  vendors: Record<string, VendorCounts>;
}

export function encodeReport(r: PodVendorReport): string {
  return JSON.stringify(r);
}

function isCounts(v: unknown): v is VendorCounts {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return Number.isFinite(c.ok) && Number.isFinite(c.fail) && (c.ok as number) >= 0 && (c.fail as number) >= 0;
}

/** null for anything that is not a well-formed report (a bad field must not break the rest). */
export function parseReport(raw: string): PodVendorReport | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (!Number.isFinite(r.at) || typeof r.active !== 'string' || typeof r.vendors !== 'object' || r.vendors === null) return null;
  const vendors: Record<string, VendorCounts> = {};
  for (const [name, c] of Object.entries(r.vendors as Record<string, unknown>)) {
    if (!isCounts(c)) return null;
    vendors[name] = { ok: c.ok, fail: c.fail };
  }
  return { at: r.at as number, active: r.active, vendors };
}

export interface VendorHealth {
  name: string;
  ok: number;
  fail: number;
  requests: number;
  /** null with no requests in the window. */
  successRate: number | null;
}

export interface RouteHealth {
  route: string;
  activeVendor: string;
  /** When activeVendor last changed (epoch ms): the base of the cooldown. */
  sinceMs: number;
  /** Whether activeVendor differs from the previous decision. */
  changed: boolean;
  /** Why it is what it is: 'pin', 'failing', 'recovered', 'steady'. */
  reason: 'pin' | 'failing' | 'recovered' | 'steady';
  /** Pods whose reports were counted. */
  pods: number;
  vendors: VendorHealth[];
}

export interface PreviousChoice {
  activeVendor: string;
  sinceMs: number;
}

export type RouteRules = Pick<CompiledRoute, 'name' | 'vendors' | 'failover' | 'pin'>;

/** Sums the fresh pod reports of one route's hash (field = pod name, value = report JSON). */
export function sumReports(
  fields: Readonly<Record<string, string>>,
  vendorNames: readonly string[],
  nowMs: number,
  maxAgeMs = DEFAULT_MAX_REPORT_AGE_MS,
): { pods: number; counts: VendorCounts[] } {
  const counts = vendorNames.map(() => ({ ok: 0, fail: 0 }));
  let pods = 0;
  for (const raw of Object.values(fields)) {
    const r = parseReport(raw);
    if (!r || nowMs - r.at > maxAgeMs) continue;
    pods++;
    vendorNames.forEach((name, i) => {
      const c = r.vendors[name];
      if (!c) return;
      counts[i].ok += c.ok;
      counts[i].fail += c.fail;
    });
  }
  return { pods, counts };
}

/** The workload-wide health and active vendor of one route. */
export function aggregateRoute(
  route: RouteRules,
  fields: Readonly<Record<string, string>>,
  previous: PreviousChoice | undefined,
  nowMs: number,
  maxAgeMs = DEFAULT_MAX_REPORT_AGE_MS,
): RouteHealth {
  const names = route.vendors.map((v) => v.name);
  const { pods, counts } = sumReports(fields, names, nowMs, maxAgeMs);
  const vendors: VendorHealth[] = names.map((name, i) => {
    const requests = counts[i].ok + counts[i].fail;
    return { name, ok: counts[i].ok, fail: counts[i].fail, requests, successRate: requests === 0 ? null : counts[i].ok / requests };
  });
  const { minSuccessRate, minRequests, cooldownSeconds } = route.failover;
  const failing = (i: number): boolean => vendors[i].requests >= minRequests && (vendors[i].successRate ?? 1) < minSuccessRate;

  const prevIdx = previous ? names.indexOf(previous.activeVendor) : -1;
  const current = prevIdx >= 0 ? prevIdx : 0;
  const since = prevIdx >= 0 && previous ? previous.sinceMs : nowMs;
  const decide = (idx: number, reason: RouteHealth['reason']): RouteHealth => {
    const changed = idx !== current || prevIdx < 0;
    return { route: route.name, activeVendor: names[idx], sinceMs: idx !== current ? nowMs : since, changed, reason, pods, vendors };
  };

  const pinned = names.indexOf(route.pin);
  if (pinned >= 0) return decide(pinned, 'pin');
  if (failing(current)) {
    for (let i = 1; i < names.length; i++) {
      const c = (current + i) % names.length;
      if (!failing(c)) return decide(c, 'failing');
    }
    return decide(current, 'steady');
  }
  if (nowMs - since >= cooldownSeconds * 1000) {
    const quorum = Math.min(minRequests, RECOVERY_QUORUM);
    for (let i = 0; i < current; i++) {
      if (vendors[i].requests >= quorum && (vendors[i].successRate ?? 0) >= minSuccessRate) return decide(i, 'recovered');
    }
  }
  return decide(current, 'steady');
}

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

/**
 * Limits of a report, which anything that can write to Redis can forge. A real one is a few
 * hundred bytes (at most 16 vendors, names ≤ 63 characters).
 */
export const MAX_REPORT_BYTES = 4096;
/** Pods' reports read per route; beyond this, a hash is not a workload's (the rest is not read). */
export const MAX_REPORTS_PER_ROUTE = 10_000;
const MAX_REPORT_VENDORS = 16;
const MAX_NAME_LENGTH = 253;
/** More requests in one window than any pod can make: a forged or corrupted count. */
export const MAX_REPORT_COUNT = 1_000_000_000;
/** A report stamped further ahead than this is not from a sane clock; it would stay "fresh" for ever. */
export const MAX_REPORT_CLOCK_SKEW_MS = 60_000;

/**
 * Why a report was ignored: `too-large`, `not-json`, `wrong-shape` (not an object, a field
 * missing or of the wrong type, too many vendors), `bad-count` (a count that is not an integer in
 * 0..MAX_REPORT_COUNT: negative, NaN, fractional, absurd), `future` (stamped more than a minute
 * ahead); and, for a whole route, `wrong-type` (its Redis key is not a hash).
 */
export type ReportRejectReason = 'too-large' | 'not-json' | 'wrong-shape' | 'bad-count' | 'future' | 'wrong-type';

export type ReportResult = { ok: true; report: PodVendorReport } | { ok: false; reason: ReportRejectReason };

const refuse = (reason: ReportRejectReason): ReportResult => ({ ok: false, reason });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_REPORT_COUNT;

/** A pod's report, judged: anything not well-formed is refused with a reason (and must not break the rest). */
export function parseReport(raw: string, nowMs: number): ReportResult {
  if (raw.length > MAX_REPORT_BYTES) return refuse('too-large');
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return refuse('not-json');
  }
  if (!isRecord(v) || typeof v.active !== 'string' || v.active.length > MAX_NAME_LENGTH || !isRecord(v.vendors)) return refuse('wrong-shape');
  if (!Number.isFinite(v.at) || (v.at as number) < 0) return refuse('wrong-shape');
  const entries = Object.entries(v.vendors);
  if (entries.length > MAX_REPORT_VENDORS) return refuse('wrong-shape');
  const vendors: Record<string, VendorCounts> = {};
  for (const [name, c] of entries) {
    if (!isRecord(c) || name.length > MAX_NAME_LENGTH) return refuse('wrong-shape');
    if (!isCount(c.ok) || !isCount(c.fail)) return refuse('bad-count');
    vendors[name] = { ok: c.ok, fail: c.fail };
  }
  if ((v.at as number) > nowMs + MAX_REPORT_CLOCK_SKEW_MS) return refuse('future');
  return { ok: true, report: { at: v.at as number, active: v.active, vendors } };
}

/** A report ignored: which pod (the hash field) and why. */
export interface RejectedReport {
  pod: string;
  reason: ReportRejectReason;
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
  /** Reports ignored as malformed (they count for nothing). */
  rejected: RejectedReport[];
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
): { pods: number; counts: VendorCounts[]; rejected: RejectedReport[] } {
  const counts = vendorNames.map(() => ({ ok: 0, fail: 0 }));
  const rejected: RejectedReport[] = [];
  let pods = 0;
  for (const [pod, raw] of Object.entries(fields)) {
    const parsed = parseReport(raw, nowMs);
    if (!parsed.ok) {
      rejected.push({ pod, reason: parsed.reason });
      continue;
    }
    const r = parsed.report;
    if (nowMs - r.at > maxAgeMs) continue;
    pods++;
    vendorNames.forEach((name, i) => {
      const c = r.vendors[name];
      if (!c) return;
      counts[i].ok += c.ok;
      counts[i].fail += c.fail;
    });
  }
  return { pods, counts, rejected };
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
  const { pods, counts, rejected } = sumReports(fields, names, nowMs, maxAgeMs);
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
    return { route: route.name, activeVendor: names[idx], sinceMs: idx !== current ? nowMs : since, changed, reason, pods, vendors, rejected };
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

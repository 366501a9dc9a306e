/**
 * compile(policy, readyReplicas): the pure step from a declared TrafficPolicy to the config a
 * sidecar enforces. Deterministic: the same inputs give the same output, so the operator can
 * tell whether anything changed before publishing a new version.
 */
import type { CompiledClass, CompiledConfig, CompiledMatch, CompiledRoute } from './config.js';
import { DEFAULT_PATH_MATCHING, DEFAULT_QUEUE_TIMEOUT_MS, MAX_CONFIG_BYTES, MAX_EXTRA_PODS, POD_NAME } from './config.js';
import { DEFAULT_CLASS_NAME, type ClassSpec, type Match, type Mode, type Route, type TrafficPolicy } from './policy.js';

/** A compiled config before the publisher gives it a version. */
export type CompiledBody = Omit<CompiledConfig, 'version'>;

/** Splits a Cluster-scope limit over the ready replicas: base per pod (≥ 1) and how many pods get one more. */
export function dividePodLimit(limit: number, readyReplicas: number): { limit: number; extra: number } {
  const replicas = Math.max(1, readyReplicas);
  const base = Math.floor(limit / replicas);
  if (base < 1) return { limit: 1, extra: 0 };
  return { limit: base, extra: limit - base * replicas };
}

function compileMatch(m: Match): CompiledMatch {
  const out: CompiledMatch = {};
  if (m.method !== undefined) out.method = m.method;
  if (m.path !== undefined) out.path = m.path;
  if (m.pathPrefix !== undefined) out.pathPrefix = m.pathPrefix;
  if (m.headers !== undefined) {
    out.headers = Object.fromEntries(
      Object.entries(m.headers)
        .map(([k, v]) => [k.toLowerCase(), v] as const)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  }
  if (m.headersPresent !== undefined) out.headersPresent = [...new Set(m.headersPresent.map((h) => h.toLowerCase()))].sort();
  if (m.query !== undefined) out.query = m.query;
  if (m.websocket !== undefined) out.websocket = m.websocket;
  return out;
}

type ClassFields = Omit<ClassSpec, 'name' | 'match'>;

function compileClass(name: string, match: Match[], c: ClassFields, readyReplicas: number, policyMode: Mode): CompiledClass {
  const scope = c.concurrency.scope;
  const split = scope === 'Cluster' ? dividePodLimit(c.concurrency.limit, readyReplicas) : { limit: c.concurrency.limit, extra: 0 };
  const out: CompiledClass = {
    name,
    priority: c.priority,
    match: match.map(compileMatch),
    scope,
    policyLimit: c.concurrency.limit,
    limit: split.limit,
    extra: split.extra,
    queue: { size: c.queue.size, timeoutMs: c.queue.timeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS },
    shedAtLevel: c.shedAtLevel ?? null,
    timeoutMs: c.timeoutMs ?? null,
    rejectStatus: c.rejectStatus,
    affectsLoadLevel: c.affectsLoadLevel,
  };
  const { borrow, adaptive } = c.concurrency;
  if (borrow !== undefined) out.borrowMax = borrow.max;
  if (adaptive !== undefined) out.adaptive = { minLimit: adaptive.minLimit, maxLimit: adaptive.maxLimit };
  if (c.fairness !== undefined) {
    out.fairness = c.fairness.header !== undefined ? { header: c.fairness.header.toLowerCase() } : { clientAddress: true };
  }
  if ((c.mode ?? policyMode) === 'Shadow') out.shadow = true;
  return out;
}

function compileRoute(r: Route, activeVendor: string): CompiledRoute {
  return {
    name: r.name,
    vendors: r.vendors.map((v) => ({ name: v.name, url: v.url.replace(/\/+$/, ''), timeoutMs: v.timeoutMs })),
    failover: { ...r.failover },
    dedup: r.dedup ? { ...r.dedup } : null,
    defer: r.defer ? { ...r.defer } : null,
    limit: r.concurrency?.limit ?? null,
    shedAtLevel: r.shedAtLevel ?? null,
    pin: r.pin,
    activeVendor: r.vendors.some((v) => v.name === activeVendor) ? activeVendor : '',
    countClientErrors: r.countClientErrors ?? false,
  };
}

export interface CompileOptions {
  /** Active vendor per route name, chosen by the operator from aggregated vendor health. */
  activeVendors?: Readonly<Record<string, string>>;
  /**
   * Names of the target's ready pods that run the sidecar, as the operator sees them. The first
   * by name take the Cluster-scope remainders (`extraPods`); absent or empty: every pod takes
   * the base limit.
   */
  readyPods?: Iterable<string>;
}

/** Room kept in the config cap for the `{"version":N,` the publisher puts in front. */
const VERSION_ROOM = 32;

/**
 * The pods that take the +1 of a Cluster class: the first (by name, in UTF-16 code-unit order,
 * which for pod names is byte order) of the ready pods, as many as the largest `extra` needs.
 * Cut short, never wrong, when the list would push the document past MAX_CONFIG_BYTES or past
 * MAX_EXTRA_PODS: an unlisted pod takes the base limit, so the sum only falls below the policy's.
 * Names that are not pod names are skipped (the sidecar would refuse the whole config).
 */
function extraPodsFor(body: CompiledBody, readyPods: Iterable<string>): string[] | undefined {
  const most = Math.min(MAX_EXTRA_PODS, Math.max(0, ...body.classes.map((c) => c.extra)));
  if (!(most > 0)) return undefined;
  const names = [...new Set(readyPods)].filter((n) => n.length <= 253 && POD_NAME.test(n)).sort();
  let room = MAX_CONFIG_BYTES - VERSION_ROOM - Buffer.byteLength(JSON.stringify({ ...body, extraPods: [] }));
  const out: string[] = [];
  for (const n of names) {
    if (out.length === most) break;
    // Two quotes and a comma (ASCII only: a pod name is).
    room -= n.length + 3;
    if (room < 0) break;
    out.push(n);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * The policy must already be valid (parsePolicy). Classes keep their declared order (first
 * match wins); the default class comes last with no matchers, so it matches everything.
 */
export function compile(policy: TrafficPolicy, readyReplicas: number, options: CompileOptions = {}): CompiledBody {
  const { spec, metadata } = policy;
  const replicas = Math.max(0, Math.floor(readyReplicas));
  const classes = spec.classes.map((c) => compileClass(c.name, c.match, c, replicas, spec.mode));
  classes.push(compileClass(DEFAULT_CLASS_NAME, [], spec.defaultClass, replicas, spec.mode));
  const active = options.activeVendors ?? {};
  const body: CompiledBody = {
    policy: `${metadata.namespace}/${metadata.name}`,
    generation: metadata.generation ?? 0,
    target: `${metadata.namespace}/${spec.targetRef.name}`,
    readyReplicas: replicas,
    loadLevels: { thresholds: [...spec.loadLevels.thresholds], holdSeconds: spec.loadLevels.holdSeconds },
    warmupSeconds: spec.warmupSeconds,
    classes,
    routes: spec.routes.map((r) => compileRoute(r, active[r.name] ?? '')),
  };
  const pm = spec.pathMatching;
  if (pm.caseSensitive !== DEFAULT_PATH_MATCHING.caseSensitive || pm.trailingSlash !== DEFAULT_PATH_MATCHING.trailingSlash) {
    body.pathMatching = { caseSensitive: pm.caseSensitive, trailingSlash: pm.trailingSlash };
  }
  // Only when a remainder is to be shared out, so other configs stay as they were.
  const extraPods = extraPodsFor(body, options.readyPods ?? []);
  if (extraPods !== undefined) body.extraPods = extraPods;
  return body;
}

/** The pod's index in the config's `extraPods`; -1 when it is not listed (it takes the base limits). */
export function extraRank(config: Pick<CompiledBody, 'extraPods'>, podName: string): number {
  return config.extraPods?.indexOf(podName) ?? -1;
}

/** The limit a pod at `rank` (extraRank) enforces for a compiled class. */
export function effectiveLimit(c: CompiledClass, rank: number): number {
  return c.limit + (rank >= 0 && rank < c.extra ? 1 : 0);
}

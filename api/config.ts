/**
 * The compiled config: what the operator writes to Redis under `spillway:config:<ns>/<target>`
 * and what a sidecar enforces. Everything a sidecar needs is resolved here (per-pod limits,
 * normalised matchers, defaults filled), so the sidecar does no policy arithmetic of its own.
 */
import { z } from 'zod';
import { Dedup, Defer, Failover, Method, RejectStatus, Scope } from './policy.js';

export const CONFIG_KEY_PREFIX = 'spillway:config:';
export const CONFIG_CHANNEL = 'spillway:config';
/**
 * The largest config document a sidecar reads (bytes). A compiled config of a large policy is
 * tens of KiB, plus `extraPods` for a Cluster remainder: at most 9,999 names, about 650 KB at
 * 10,000 replicas with Deployment pod names (≤ 63 characters). The operator cuts that list
 * rather than exceed this (api/compile.ts); a larger document is not the operator's, and is
 * refused before it is parsed.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Default queue timeout when a queue has a size but no timeoutMs. */
export const DEFAULT_QUEUE_TIMEOUT_MS = 1000;
/**
 * The most pod names `extraPods` may hold. A workload with more ready replicas than this still
 * gets a config: the pods beyond the list take the base limit (the sum stays below the policy's).
 */
export const MAX_EXTRA_PODS = 10_000;
/** A pod name: a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.', at most 253). */
export const POD_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export const CompiledMatch = z.strictObject({
  method: Method.optional(),
  path: z.string().optional(),
  pathPrefix: z.string().optional(),
  /** Lower-cased names. */
  headers: z.record(z.string(), z.string()).optional(),
  /** Lower-cased names. */
  headersPresent: z.array(z.string()).optional(),
  query: z.record(z.string(), z.string()).optional(),
  websocket: z.boolean().optional(),
});
export type CompiledMatch = z.infer<typeof CompiledMatch>;

export const CompiledClass = z.strictObject({
  name: z.string().min(1),
  priority: z.number().int(),
  match: z.array(CompiledMatch),
  scope: Scope,
  /** The limit the policy declares (for Cluster scope: across the workload). */
  policyLimit: z.number().int().min(1),
  /** Base per-pod limit: for Cluster scope floor(policyLimit / readyReplicas), never below 1. */
  limit: z.number().int().min(1),
  /**
   * Cluster scope: how many pods get limit + 1 so the per-pod limits add up to policyLimit.
   * A sidecar takes the +1 when its pod name is at an index below this number in the config's
   * `extraPods`. 0 for Pod scope.
   */
  extra: z.number().int().min(0),
  queue: z.strictObject({ size: z.number().int().min(0), timeoutMs: z.number().int().min(1) }),
  shedAtLevel: z.number().int().min(1).max(3).nullable(),
  timeoutMs: z.number().int().min(1).nullable(),
  rejectStatus: RejectStatus,
  affectsLoadLevel: z.boolean(),
  // The fields below are present only when the policy uses the feature, so the config of a policy
  // without them is exactly what it was before they existed (and older sidecars still accept it).
  /** Slots the class may borrow beyond its limit from the other classes' unused ones, per pod. */
  borrowMax: z.number().int().min(1).optional(),
  /** Bounds of the adaptive per-pod limit; `limit` (plus the Cluster extra) is its starting point. */
  adaptive: z.strictObject({ minLimit: z.number().int().min(1), maxLimit: z.number().int().min(1) }).optional(),
  /** How a request's flow is found: a lower-cased header name, or the client address. */
  fairness: z.union([z.strictObject({ header: z.string().min(1) }), z.strictObject({ clientAddress: z.literal(true) })]).optional(),
  /** Shadow: refuse and queue nothing, count what would have been. */
  shadow: z.literal(true).optional(),
});
export type CompiledClass = z.infer<typeof CompiledClass>;

export const CompiledVendor = z.strictObject({
  name: z.string(),
  url: z.string(),
  timeoutMs: z.number().int().min(1),
});

export const CompiledRoute = z.strictObject({
  name: z.string(),
  vendors: z.array(CompiledVendor).min(1),
  failover: Failover,
  dedup: Dedup.nullable(),
  defer: Defer.nullable(),
  limit: z.number().int().min(1).nullable(),
  shedAtLevel: z.number().int().min(1).max(3).nullable(),
  pin: z.string(),
  /** The vendor the operator chose for the whole workload from aggregated health; "" if none. */
  activeVendor: z.string().default(''),
  /** Whether 4xx answers other than 429 count against the vendor (default: the caller's fault). */
  countClientErrors: z.boolean().default(false),
});
export type CompiledRoute = z.infer<typeof CompiledRoute>;

export const CompiledPathMatching = z.strictObject({
  caseSensitive: z.boolean(),
  trailingSlash: z.enum(['Strict', 'Ignore']),
});
export type CompiledPathMatching = z.infer<typeof CompiledPathMatching>;
/** spec.pathMatching's defaults: a compiled config carries pathMatching only when it differs. */
export const DEFAULT_PATH_MATCHING: CompiledPathMatching = { caseSensitive: false, trailingSlash: 'Ignore' };

const PodName = z.string().max(253).regex(POD_NAME, 'not a pod name');

export const CompiledConfig = z
  .strictObject({
    /** Only ever increases for a given key; sidecars never apply an older or equal version. */
    version: z.number().int().min(0),
    /** `namespace/name` of the TrafficPolicy. */
    policy: z.string(),
    generation: z.number().int().min(0),
    /** `namespace/targetName`: the key suffix. */
    target: z.string(),
    readyReplicas: z.number().int().min(0),
    loadLevels: z.strictObject({
      thresholds: z.array(z.number()).length(3),
      holdSeconds: z.number().int().min(0),
    }),
    warmupSeconds: z.number().int().min(0),
    /** Match order: first match wins; the last entry is always the default class (empty match). */
    classes: z.array(CompiledClass).min(1),
    routes: z.array(CompiledRoute),
    /**
     * The ready pods (with the sidecar) that take a Cluster class's +1, in the operator's order
     * (by name): the pod at index i takes it for a class when i < that class's `extra`. A pod
     * not listed (one that became ready since) takes the base limit, so the per-pod limits never
     * add up to more than the policy's. Present only when some class has extra > 0 and the
     * operator knows ready pods.
     */
    extraPods: z.array(PodName).min(1).max(MAX_EXTRA_PODS).optional(),
    /** How the classifier compares paths; absent: DEFAULT_PATH_MATCHING (so configs of policies that do not set it stay as they were). */
    pathMatching: CompiledPathMatching.optional(),
  })
  .superRefine((c, ctx) => {
    const pods = c.extraPods;
    if (pods === undefined) return;
    // No longer than the largest remainder (itself below readyReplicas), each pod once.
    const most = Math.max(0, ...c.classes.map((k) => k.extra));
    if (pods.length > most) ctx.addIssue({ code: 'custom', path: ['extraPods'], message: `${pods.length} pods listed, more than the largest extra (${most})` });
    else if (pods.length > c.readyReplicas) ctx.addIssue({ code: 'custom', path: ['extraPods'], message: `${pods.length} pods listed, more than readyReplicas (${c.readyReplicas})` });
    else if (new Set(pods).size !== pods.length) ctx.addIssue({ code: 'custom', path: ['extraPods'], message: 'a pod is listed twice' });
  });
export type CompiledConfig = z.infer<typeof CompiledConfig>;

/**
 * `cluster`: Redis Cluster mode, where `{<ns>/<target>}` is a hash tag so that the config key and
 * the operator's version counter for it (written together by one script) share a slot.
 */
export function configKey(target: string, cluster = false): string {
  return CONFIG_KEY_PREFIX + hashTag(target, cluster);
}

/** The target as it appears in key names: in Cluster mode wrapped in a hash tag. */
export function hashTag(target: string, cluster: boolean): string {
  return cluster ? `{${target}}` : target;
}

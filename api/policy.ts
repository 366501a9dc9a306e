/**
 * The TrafficPolicy API (spillway.io/v1alpha1) as zod schemas: the one source of truth from
 * which the CRD, the policy reference and both processes' validation are derived.
 *
 * Every field carries a description (it becomes the CRD's and the reference's documentation)
 * and, where it has one, a default, so a minimal policy is short.
 */
import { z } from 'zod';

export const GROUP = 'spillway.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TrafficPolicy';
export const PLURAL = 'trafficpolicies';
/** The name the compiled catch-all class always has. */
export const DEFAULT_CLASS_NAME = 'default';

const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-"');

/** Percent-escapes the sidecar decodes (RFC 3986 unreserved: ALPHA DIGIT - . _ ~) or refuses (/ NUL \\). */
const DECODED_ESCAPE = /%(?:3[0-9]|4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|2[DE]|5F|7E)/i;
const REFUSED_ESCAPE = /%(?:2F|00|5C)/i;

/**
 * Request paths are normalised before matching (sidecar/http1/target.ts); a matcher path that
 * is not in that normal form could never match, so it is refused with the reason.
 */
function abnormalPath(p: string): string | null {
  if (/[?#]/.test(p)) return 'must not hold "?" or "#" (match the query with query:)';
  if (/[;\\]/.test(p) || REFUSED_ESCAPE.test(p)) return 'must not hold ";", "\\", %2F, %00 or %5C (the sidecar refuses such targets with 400)';
  if (p.includes('//')) return 'must not hold "//" (request paths have runs of slashes merged)';
  if (/\/\.\.?(?:\/|$)/.test(p)) return 'must not hold "." or ".." segments (request paths have them removed)';
  if (/%(?![0-9A-F]{2})/.test(p)) return 'percent-escapes must be "%" and two upper-case hex digits (request paths have them upper-cased)';
  if (DECODED_ESCAPE.test(p)) return 'must not percent-encode letters, digits, "-", ".", "_" or "~" (request paths have them decoded)';
  return null;
}

const httpPath = z
  .string()
  .min(1)
  .max(2048)
  .startsWith('/', 'must start with "/"')
  .superRefine((p, ctx) => {
    const why = abnormalPath(p);
    if (why !== null) ctx.addIssue({ code: 'custom', message: `${why}: ${JSON.stringify(p)}` });
  });

export const Method = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export const Match = z
  .strictObject({
    method: Method.optional().describe('HTTP method to match (upper case).'),
    path: httpPath.optional().describe('Exact path to match (without the query string).'),
    pathPrefix: httpPath.optional().describe('Path prefix to match; "/" matches every path.'),
    headers: z
      .record(z.string().min(1).max(256), z.string().max(4096).describe('The exact value the header must have.'))
      .optional()
      .describe('Header values that must all be equal (names case-insensitive, values exact).'),
    headersPresent: z
      .array(z.string().min(1).max(256).describe('A header name (case-insensitive).'))
      .max(32)
      .optional()
      .describe('Headers that must all be present, whatever their value.'),
    query: z
      .record(z.string().min(1).max(256), z.string().max(4096).describe('The exact value the query parameter must have.'))
      .optional()
      .describe('Query parameters that must all be equal (e.g. socket.io long polling: {transport: polling}).'),
    websocket: z
      .boolean()
      .optional()
      .describe('true: only WebSocket upgrade requests; false: only plain requests.'),
  })
  .refine((m) => !(m.path !== undefined && m.pathPrefix !== undefined), {
    message: 'set either path or pathPrefix, not both',
    path: ['pathPrefix'],
  })
  .describe('One matcher: every field given must match. A class matches if any of its matchers does.');
export type Match = z.infer<typeof Match>;

export const Scope = z.enum(['Pod', 'Cluster']);

export const Borrow = z
  .strictObject({
    max: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .describe('Slots this class may hold beyond its own limit, per pod, taken from what the other classes of the pod leave unused.'),
  })
  .describe(
    'Borrowing: at its limit the class may use idle slots of other classes. A lender gets its slots back first as borrowed requests finish (nothing is preempted); among classes waiting for freed slots the higher priority goes first.',
  );

export const Adaptive = z
  .strictObject({
    minLimit: z.number().int().min(1).max(1_000_000).describe('The adaptive limit never goes below this (per pod).'),
    maxLimit: z.number().int().min(1).max(1_000_000).describe('The adaptive limit never goes above this (per pod).'),
  })
  .refine((a) => a.minLimit <= a.maxLimit, { message: 'minLimit must not exceed maxLimit', path: ['maxLimit'] })
  .describe(
    'Adaptive limit: starting from limit, the per-pod limit follows the upstream latency this class measures (a gradient controller after Envoy adaptive concurrency): it falls when latency rises above the lowest recent latency and grows back when it returns.',
  );

export const Concurrency = z
  .strictObject({
    limit: z.number().int().min(1).max(1_000_000).describe('Requests of this class in flight at once (with adaptive: the starting point).'),
    scope: Scope.default('Pod').describe(
      'Pod: the limit holds in each pod. Cluster: the limit is divided over the ready replicas, the remainder going one each to pods the operator names, so the pods add up to the limit (never below 1 per pod: a limit below the replicas adds up to the replicas).',
    ),
    borrow: Borrow.optional(),
    adaptive: Adaptive.optional(),
  })
  .describe('Concurrency budget.');

export const Fairness = z
  .strictObject({
    header: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name')
      .optional()
      .describe('The flow of a request is the value of this header (requests without it share one flow).'),
    clientAddress: z.literal(true).optional().describe('The flow of a request is the address of the client connection.'),
  })
  .refine((f) => (f.header !== undefined) !== (f.clientAddress !== undefined), {
    message: 'set exactly one of header or clientAddress',
    path: ['header'],
  })
  .describe(
    'Fairness between flows inside the class: when the class is full, freed slots go to the flow holding fewest, and a flow holding more than its share of queue places loses the newest of them to a flow holding less; one flow sending too much gets the refusals, not its neighbours. Needs a queue (queue.size > 0).',
  );

export const Mode = z.enum(['Enforce', 'Shadow']);
export type Mode = z.infer<typeof Mode>;

export const Queue = z
  .strictObject({
    size: z.number().int().min(0).max(100_000).default(0).describe('Requests that may wait for a slot; 0: none wait.'),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(600_000)
      .optional()
      .describe('How long a request may wait before it is refused with reason queue-timeout (default 1000 when size > 0).'),
  })
  .refine((q) => q.timeoutMs === undefined || q.size > 0, {
    message: 'timeoutMs needs a queue: set size > 0',
    path: ['timeoutMs'],
  })
  .describe('Bounded FIFO queue in front of the budget.');

export const RejectStatus = z.union([z.literal(503), z.literal(429)]);

/** The fields a class and the default class share. */
const classFields = {
  priority: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(50)
    .describe(
      'Importance among classes that wait for freed capacity (see concurrency.borrow): higher goes first. It does not shed by itself: shedding by load level is set per class by shedAtLevel.',
    ),
  concurrency: Concurrency,
  fairness: Fairness.optional(),
  mode: Mode.optional().describe('Enforce or Shadow for this class; default: spec.mode. In Shadow nothing is refused or queued, but what would have been is counted (spillway_shadow_requests_total).'),
  queue: Queue.default({ size: 0 }),
  shedAtLevel: z
    .number()
    .int()
    .min(1)
    .max(3)
    .optional()
    .describe('Refuse this class outright (reason load-level) while the pod load level is at or above this.'),
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .max(3_600_000)
    .optional()
    .describe('Upstream timeout for this class: after it the client gets 504 and the slot is freed.'),
  rejectStatus: RejectStatus.default(503).describe('HTTP status of a refusal: 503 (default) or 429.'),
  affectsLoadLevel: z
    .boolean()
    .default(true)
    .describe(
      'Whether in-flight requests of this class count toward pod utilisation. Set false for long-held, mostly idle requests such as long polling.',
    ),
};

/** Fairness shares queue places, so a class with it needs a queue. */
const fairnessNeedsQueue = <T extends { fairness?: unknown; queue: { size: number } }>(c: T): boolean => c.fairness === undefined || c.queue.size > 0;
const fairnessNeedsQueueIssue = { message: 'fairness needs a queue: set queue.size > 0', path: ['fairness'] };

export const ClassSpec = z
  .strictObject({
    name: dnsLabel.describe('Class name, unique within the policy; shown in headers and metrics.'),
    match: z.array(Match).min(1).max(64).describe('Matchers; the first class with a matching matcher wins.'),
    ...classFields,
  })
  .refine(fairnessNeedsQueue, fairnessNeedsQueueIssue)
  .describe('A request class.');
export type ClassSpec = z.infer<typeof ClassSpec>;

export const DefaultClassSpec = z
  .strictObject(classFields)
  .refine(fairnessNeedsQueue, fairnessNeedsQueueIssue)
  .describe('The class of requests no class matches (named "default").');

export const LoadLevels = z
  .strictObject({
    thresholds: z
      .array(z.number().gt(0).lte(1).describe('A utilisation above 0 and at most 1.'))
      .length(3)
      .default([0.7, 0.85, 0.95])
      .describe('Pod utilisation (in-flight over limits) at which levels 1, 2 and 3 begin; ascending.'),
    holdSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(5)
      .describe('How long utilisation must stay below a level before the level steps down (hysteresis).'),
  })
  .refine((l) => l.thresholds[0] < l.thresholds[1] && l.thresholds[1] < l.thresholds[2], {
    message: 'thresholds must be strictly ascending',
    path: ['thresholds'],
  })
  .describe('Load levels computed from pod utilisation.');

export const Vendor = z
  .strictObject({
    name: dnsLabel.describe('Vendor name, unique within the route.'),
    url: z
      .string()
      .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http:// or https:// URL')
      .describe('Base URL; the egress path is appended.'),
    timeoutMs: z.number().int().min(1).max(600_000).default(3000).describe('Per-request timeout at this vendor.'),
  })
  .describe('An outbound provider.');

export const Failover = z
  .strictObject({
    minSuccessRate: z.number().min(0).max(1).default(0.9).describe('Below this success rate the vendor is failing.'),
    windowSeconds: z.number().int().min(1).max(3600).default(30).describe('Sliding window for success rates.'),
    minRequests: z.number().int().min(1).max(1_000_000).default(20).describe('Requests in the window before the rate counts.'),
    cooldownSeconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(120)
      .describe('After a failover, how long before the preferred vendor is probed again.'),
  })
  .describe('Success-rate failover.');

export const Dedup = z
  .strictObject({
    header: z.string().min(1).max(256).default('Idempotency-Key').describe('Request header carrying the idempotency key.'),
    ttlSeconds: z.number().int().min(1).max(30 * 86_400).default(86_400).describe('How long a key is remembered.'),
    onRedisDown: z
      .enum(['send', 'refuse'])
      .default('refuse')
      .describe('When Redis cannot be reached: send anyway (counted) or refuse with 503 dedup-unavailable.'),
  })
  .describe('Duplicate suppression by idempotency key, stored in Redis.');

export const Defer = z
  .strictObject({
    maxAgeSeconds: z.number().int().min(1).max(7 * 86_400).default(600).describe('A deferred send older than this is dead-lettered.'),
    maxAttempts: z.number().int().min(1).max(100).default(5).describe('Replays before a send is dead-lettered.'),
    drainRatePerSecond: z.number().int().min(1).max(100_000).default(50).describe('Replay rate once the load level is back to 0.'),
  })
  .describe('Deferral of shed sends to Kafka, replayed later.');

export const Route = z
  .strictObject({
    name: dnsLabel.describe('Route name: the first path segment on the egress port.'),
    vendors: z.array(Vendor).min(1).max(16).describe('Providers in order of preference.'),
    failover: Failover.default({ minSuccessRate: 0.9, windowSeconds: 30, minRequests: 20, cooldownSeconds: 120 }),
    dedup: Dedup.optional(),
    defer: Defer.optional(),
    concurrency: z
      .strictObject({ limit: z.number().int().min(1).max(1_000_000).describe('Sends in flight at once per pod.') })
      .optional()
      .describe('Sends in flight at once per pod on this route; beyond it sends are shed (or deferred).'),
    shedAtLevel: z.number().int().min(1).max(3).optional().describe('Shed (or defer) sends while the load level is at or above this.'),
    pin: z.string().max(63).default('').describe('Manual override: the name of the vendor to use; "" for automatic.'),
    countClientErrors: z
      .boolean()
      .optional()
      .describe('Count 4xx answers (other than 429) against the vendor; by default they are the caller\'s fault.'),
  })
  .superRefine((r, ctx) => {
    const names = r.vendors.map((v) => v.name);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', message: `duplicate vendor name "${n}"`, path: ['vendors', i, 'name'] });
    });
    if (r.pin !== '' && !names.includes(r.pin)) {
      ctx.addIssue({ code: 'custom', message: `pin "${r.pin}" is not one of the vendors (${names.join(', ')})`, path: ['pin'] });
    }
  })
  .describe('An outbound vendor route.');
export type Route = z.infer<typeof Route>;

export const TrailingSlash = z.enum(['Strict', 'Ignore']);

export const PathMatching = z
  .strictObject({
    caseSensitive: z
      .boolean()
      .default(false)
      .describe(
        'false (default): path and pathPrefix match whatever the case of the request path (/LOGIN is /login), as express, Koa and ASP.NET Core route by default. true: exact case, as Spring, Django, Rails, Flask, Fastify and Go net/http route; set it only if the app is among them (with false, such an app\'s /LOGIN is counted in the /login class while the app answers it 404, which is safe).',
      ),
    trailingSlash: TrailingSlash.default('Ignore').describe(
      'Ignore (default): /login/ matches path /login and /login matches /login/, as express (non-strict routing), Koa, Rails, ASP.NET Core and Spring before 6.0 route them, and as Django (APPEND_SLASH), Flask and Go net/http make them meet by redirecting one to the other. Strict: the slash counts, as in Spring 6+ and Fastify by default; set it only if the app tells the two apart.',
    ),
  })
  .describe(
    'How the app compares paths, so a spelling the app routes to a class\'s handler cannot escape the class. Targets are normalised before matching whatever this says (dot segments removed, runs of slashes merged, percent-encoded unreserved characters decoded; a target that cannot be normalised safely is refused with 400) and the app is sent the normalised target. The defaults are the loosest comparison of the common frameworks, so a class matches at least every spelling the app treats as its route.',
  );
export type PathMatching = z.infer<typeof PathMatching>;

export const TargetRef = z
  .strictObject({
    kind: z.enum(['Deployment', 'StatefulSet']).default('Deployment').describe('Kind of the workload.'),
    name: z.string().min(1).max(253).describe("Name of the workload, in the policy's namespace."),
  })
  .describe('The workload this policy protects, in the same namespace.');

export const TrafficPolicySpec = z
  .strictObject({
    targetRef: TargetRef,
    loadLevels: LoadLevels.default({ thresholds: [0.7, 0.85, 0.95], holdSeconds: 5 }),
    classes: z.array(ClassSpec).max(64).default([]).describe('Request classes; first match wins, so order matters.'),
    defaultClass: DefaultClassSpec.default({
      priority: 50,
      concurrency: { limit: 100, scope: 'Pod' },
      queue: { size: 0 },
      rejectStatus: 503,
      affectsLoadLevel: true,
    }),
    routes: z.array(Route).max(32).default([]).describe('Outbound vendor routes served on the egress port.'),
    pathMatching: PathMatching.default({ caseSensitive: false, trailingSlash: 'Ignore' }),
    warmupSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(0)
      .describe('Slow start: a sidecar that has just started admits a growing share of its limits over this many seconds.'),
    mode: Mode.default('Enforce').describe(
      'Enforce: refuse and queue as declared. Shadow: refuse and queue nothing, but count every request that would have been refused or made to wait in the sidecars\' spillway_shadow_requests_total, under its would-be outcome (capacity, load-level, queue-timeout; queued for a wait). A class may override it.',
    ),
  })
  .superRefine((s, ctx) => {
    const names = s.classes.map((c) => c.name);
    names.forEach((n, i) => {
      if (n === DEFAULT_CLASS_NAME) {
        ctx.addIssue({ code: 'custom', message: `"${DEFAULT_CLASS_NAME}" is reserved for defaultClass`, path: ['classes', i, 'name'] });
      } else if (names.indexOf(n) !== i) {
        ctx.addIssue({ code: 'custom', message: `duplicate class name "${n}"`, path: ['classes', i, 'name'] });
      }
    });
    const routes = s.routes.map((r) => r.name);
    routes.forEach((n, i) => {
      if (routes.indexOf(n) !== i) ctx.addIssue({ code: 'custom', message: `duplicate route name "${n}"`, path: ['routes', i, 'name'] });
    });
  })
  .describe('What a TrafficPolicy declares for one workload.');
export type TrafficPolicySpec = z.infer<typeof TrafficPolicySpec>;
export type TrafficPolicySpecInput = z.input<typeof TrafficPolicySpec>;

/** The limits of metav1.Condition (k8s.io/apimachinery/pkg/apis/meta/v1), as its CRD schemas carry them. */
export const CONDITION_TYPE_MAX = 316;
export const CONDITION_REASON_MAX = 1024;
export const CONDITION_MESSAGE_MAX = 32_768;

/** A condition as metav1.Condition: the same fields, formats, lengths and patterns. */
export const Condition = z
  .object({
    type: z
      .string()
      .max(CONDITION_TYPE_MAX)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe('Type of condition in CamelCase: Accepted (the policy is valid and wins its target), Programmed (its config is published) or Protected (every ready pod of the target runs the sidecar).'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("The policy's metadata.generation this condition was set from; older than the current generation means it is out of date."),
    lastTransitionTime: z.iso.datetime().describe('When the condition last changed from one status to another.'),
    reason: z
      .string()
      .min(1)
      .max(CONDITION_REASON_MAX)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Why the condition is in its status, in CamelCase (e.g. Invalid, Conflict, TargetNotFound, RedisUnavailable).'),
    message: z.string().max(CONDITION_MESSAGE_MAX).describe('Details for people: for a refused policy, each problem with its field path.'),
  })
  .describe('One aspect of the policy\'s state, as metav1.Condition.');
export type Condition = z.infer<typeof Condition>;

const nonNegative = () => z.number().int().min(0);

/** The status the operator writes (operator/reconcile.ts, operator/status.ts): every field it sets, and only those. */
export const TrafficPolicyStatus = z
  .object({
    observedGeneration: nonNegative().optional().describe('The metadata.generation of the spec this status describes.'),
    configVersion: nonNegative().optional().describe('Version of the config last published to Redis for the target; sidecars report it as spillway_config_version.'),
    readyReplicas: nonNegative().optional().describe('Ready replicas of the target when the config was compiled; Cluster-scoped budgets are divided by it.'),
    unprotectedReplicas: nonNegative()
      .optional()
      .describe('Ready pods of the target (by its selector) running without the Spillway sidecar, e.g. created while the injection webhook was unreachable; see the Protected condition.'),
    publishedTarget: z
      .string()
      .max(317)
      .optional()
      .describe('namespace/target whose Redis config key this policy wrote last; "" once removed.'),
    conditions: z
      .array(Condition)
      .max(8)
      .optional()
      .describe('Accepted, Programmed and Protected, one of each type.'),
    classes: z
      .array(
        z
          .object({
            name: z.string().min(1).max(63).describe('Class name (the default class is "default").'),
            podLimit: nonNegative().describe('Concurrency limit of the class in each pod: the Cluster-scoped limit divided over the ready replicas (rounded down; the pods named for the remainder take one more), or the Pod-scoped limit.'),
            mode: Mode.optional().describe(
              'Shadow when the class refuses and queues nothing (its would-be refusals are the sidecars\' spillway_shadow_requests_total); absent when it enforces.',
            ),
            adaptive: z
              .boolean()
              .optional()
              .describe('true when the pod limit is adaptive: podLimit is then its starting point (the live one is the sidecars\' spillway_limit).'),
          })
          .describe('The limit one class has in each pod.'),
      )
      .max(65)
      .optional()
      .describe('Per class, the limit in force in each pod, as published.'),
    routes: z
      .array(
        z
          .object({
            name: z.string().min(1).max(63).describe('Route name.'),
            activeVendor: z.string().min(1).max(63).describe('The vendor the pods send to now (failover or pin applied).'),
            vendors: z
              .array(
                z
                  .object({
                    name: z.string().min(1).max(63).describe('Vendor name.'),
                    successRate: z.number().min(0).max(1).optional().describe("Share of the vendor's sends that succeeded over the failover window, over all pods; absent with no sends."),
                    requests: nonNegative().optional().describe('Sends to the vendor in the window, over all pods.'),
                  })
                  .describe("One vendor's health as the pods reported it."),
              )
              .max(16)
              .optional()
              .describe("Per vendor, its health over the route's failover window, once pods have reported."),
          })
          .describe('One route and the vendor it uses.'),
      )
      .max(32)
      .optional()
      .describe('Per route, the active vendor and the vendors\' health.'),
  })
  .describe('What the operator observed and did.');
export type TrafficPolicyStatus = z.infer<typeof TrafficPolicyStatus>;

export const ObjectMeta = z
  .object({
    name: z.string().min(1),
    namespace: z.string().min(1).default('default'),
    generation: z.number().int().min(0).optional(),
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
    creationTimestamp: z.string().optional(),
  })
  .passthrough();

export const TrafficPolicy = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMeta,
  spec: TrafficPolicySpec,
  // The operator's to write, never read back as input: a bad status must not make a good spec
  // invalid (and the API server drops status on create where the status subresource is on).
  status: z.unknown().optional(),
});
export type TrafficPolicy = z.infer<typeof TrafficPolicy>;

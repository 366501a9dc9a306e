/**
 * charts/spillway/values.schema.json, which helm checks every install, upgrade, template and lint
 * against: written once here in zod. Bounds shared with the processes come from their tables
 * (the engine limits from lib/sidecar-limits.ts), and each value's description is its comment in
 * values.yaml (tools/chart-values-doc.ts), so neither can drift from the chart.
 *
 * Helm validates the values after merging the user's over values.yaml, so every key is present
 * and most are optional here (`.partial()`); `.required()` names the ones a user must not null out.
 */
import { z } from 'zod';
import { ACCESS_LOG, ACCESS_LOG_MODES, SIDECAR_LIMIT_KEYS, SIDECAR_LIMITS, type LimitSpec } from '../lib/sidecar-limits.js';
import { valuesComments } from './chart-values-doc.js';

export const CHART_VALUES_SCHEMA = 'charts/spillway/values.schema.json';

const port = z.number().int().min(1).max(65535);
const logLevel = z.enum(['debug', 'info', 'warn', 'error']);
const stringMap = z.record(z.string(), z.string());
/** A Kubernetes object passed through to a manifest as it is (the API server checks it). */
const anyObject = z.record(z.string(), z.unknown());
const anyList = z.array(z.unknown());
/** A DNS-1123 label: a namespace name. */
const namespaceName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
/** A Go duration as the operator's lease flags take it. */
const duration = z.string().regex(/^[0-9]+(\.[0-9]+)?(ms|s|m)?$/);
/** A Kubernetes quantity, written as a string ("600m") or a number. */
const quantity = z.union([z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|Ki|Mi|Gi)?$/), z.number()]);

function uniqueList<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .refine((a) => new Set(a).size === a.length, 'must not repeat an item')
    .meta({ uniqueItems: true });
}

const resources = z.strictObject({ requests: anyObject, limits: anyObject }).describe('Both requests and limits are required.');

const image = z
  .strictObject({
    repository: z.string().min(1),
    tag: z.string(),
    digest: z.string().regex(/^(sha256:[a-f0-9]{64})?$/),
    pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
  })
  .partial()
  .required({ repository: true });

/** Open objects (a securityContext has many more fields), but never root or privileged. */
const securityContext = z
  .object({
    runAsNonRoot: z.literal(true),
    allowPrivilegeEscalation: z.literal(false),
    readOnlyRootFilesystem: z.boolean(),
    privileged: z.literal(false),
    runAsUser: z.number().int().min(1),
    runAsGroup: z.number().int().min(0),
    capabilities: anyObject,
    seccompProfile: anyObject,
  })
  .partial()
  .required({ runAsNonRoot: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: true, capabilities: true })
  .describe('Must run as non-root without privilege escalation.');

const podSecurityContext = z
  .object({
    runAsNonRoot: z.literal(true),
    runAsUser: z.number().int().min(1),
    runAsGroup: z.number().int().min(0),
    fsGroup: z.number().int().min(0),
    seccompProfile: anyObject,
  })
  .partial()
  .required({ runAsNonRoot: true })
  .describe('Must run as non-root.');

/** The chart's settings for one engine limit: the sidecar flag's own bounds and default. */
const limit = (spec: LimitSpec) => z.number().int().min(spec.min).max(spec.max).default(spec.def);

const operator = z
  .strictObject({
    replicas: z.number().int().min(1),
    leaderElection: z
      .strictObject({
        enabled: z.boolean(),
        leaseName: z.string().regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/),
        leaseDuration: duration,
        renewDeadline: duration,
        retryPeriod: duration,
      })
      .partial(),
    watchNamespaces: uniqueList(namespaceName),
    workers: z.number().int().min(1).max(64),
    logLevel,
    adminPort: port,
    extraArgs: z.array(z.string()),
    extraEnv: z.array(anyObject),
    resources,
    podSecurityContext,
    securityContext,
    podDisruptionBudget: z.strictObject({ enabled: z.boolean(), minAvailable: z.union([z.number().int(), z.string()]) }).partial(),
    terminationGracePeriodSeconds: z.number().int().min(0),
    podAnnotations: stringMap,
    podLabels: stringMap,
    nodeSelector: stringMap,
    tolerations: anyList,
    affinity: anyObject,
    topologySpreadConstraints: anyList,
    priorityClassName: z.string(),
  })
  .partial();

const redis = z
  .strictObject({
    // No user:password@: the URL is rendered into pod specs (credentials go into the Secrets).
    url: z.string().regex(/^(rediss?(\+sentinel|\+cluster)?:\/\/[^@\s]+)?$/),
    existingSecret: z.strictObject({ name: z.string(), key: z.string().min(1) }).partial(),
    sidecarSecret: z.strictObject({ name: z.string().max(253), key: z.string().min(1).max(253) }).partial(),
    bundled: z
      .strictObject({
        enabled: z.boolean(),
        image,
        port,
        maxmemory: z.string().regex(/^[0-9]+(kb|mb|gb)?$/),
        resources,
        nodeSelector: stringMap,
        tolerations: anyList,
      })
      .partial(),
    workloadUsers: z.enum(['auto', 'on', 'off']),
  })
  .partial();

const sidecar = z
  .strictObject({
    image: z.strictObject({ repository: z.string(), tag: z.string() }).partial(),
    ports: z.strictObject({ listen: port, egress: port, admin: port }),
    stateDir: z.string().regex(/^\//),
    logLevel,
    pollIntervalMs: z.number().int().min(100).max(3_600_000),
    readyWithoutConfigAfterSeconds: z.number().int().min(0).max(86_400),
    accessLog: z.enum(ACCESS_LOG_MODES).default(ACCESS_LOG.def),
    limits: z.strictObject(Object.fromEntries(SIDECAR_LIMIT_KEYS.map((key) => [key, limit(SIDECAR_LIMITS[key])]))),
    resources,
    securityContext,
  })
  .partial();

const webhook = z
  .strictObject({
    enabled: z.boolean(),
    port,
    failurePolicy: z.enum(['Ignore', 'Fail']),
    timeoutSeconds: z.number().int().min(1).max(30),
    namespaceSelector: anyObject,
    certManager: z.strictObject({ enabled: z.boolean(), issuerRef: anyObject }).partial(),
  })
  .partial();

const monitor = { enabled: z.boolean(), interval: z.string(), labels: stringMap };
const metrics = z
  .strictObject({
    serviceMonitor: z.strictObject(monitor).partial(),
    // A container port name: at most 15 characters.
    podMonitor: z.strictObject({ ...monitor, portName: z.string().min(1).max(15) }).partial(),
  })
  .partial();

const scaleOn = z.strictObject({ enabled: z.boolean(), averageValue: quantity }).partial();
const autoscaling = z
  .strictObject({
    hpa: z.strictObject({ enabled: z.boolean() }).partial(),
    keda: z
      .strictObject({
        enabled: z.boolean(),
        serverAddress: z.string().regex(/^https?:\/\//),
        authenticationRef: z.string(),
        pollingInterval: z.number().int().min(1),
        cooldownPeriod: z.number().int().min(0),
      })
      .partial(),
    target: z.strictObject({ kind: z.enum(['Deployment', 'StatefulSet']), name: z.string(), namespace: z.string() }).partial(),
    minReplicas: z.number().int().min(1),
    maxReplicas: z.number().int().min(1),
    utilisation: scaleOn,
    shedRate: scaleOn,
    podRegex: z.string(),
    behavior: anyObject,
  })
  .partial();

/** The chart's values: the source of values.schema.json. */
export const ChartValues = z
  .strictObject({
    global: anyObject.describe('Set by a parent chart; unused.'),
    nameOverride: z.string(),
    fullnameOverride: z.string(),
    image,
    imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })),
    commonLabels: stringMap,
    crds: z.strictObject({ enabled: z.boolean(), keep: z.boolean() }).partial(),
    operator,
    serviceAccount: z.strictObject({ create: z.boolean(), name: z.string(), annotations: stringMap }).partial(),
    rbac: z.strictObject({ create: z.boolean() }).partial(),
    redis,
    networkPolicy: z
      .strictObject({
        enabled: z.boolean(),
        apiServerCIDRs: z.array(z.string().regex(/^[0-9a-fA-F.:]+\/[0-9]{1,3}$/)),
        metricsFrom: z.array(anyObject),
      })
      .partial(),
    kafka: z.strictObject({ brokers: z.array(z.string().regex(/^[^\s:,]+:[0-9]{1,5}$/)) }).partial(),
    sidecar,
    webhook,
    tests: z.strictObject({ enabled: z.boolean(), namespace: namespaceName, timeoutSeconds: z.number().int().min(1).max(600), resources }),
    metrics,
    dashboards: z.strictObject({ enabled: z.boolean(), labels: stringMap, namespace: z.string() }).partial(),
    alerts: z.strictObject({ enabled: z.boolean(), labels: stringMap, runbookBaseUrl: z.string() }).partial(),
    autoscaling,
  })
  .partial()
  .meta({ title: 'Spillway chart values' });

type Node = { [key: string]: unknown };

/** zod's bounds for a plain `.int()`: no bound at all for a chart value. */
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** A RegExp's source escapes "/" (a JS literal's delimiter); JSON Schema needs no escape there. */
const ESCAPED_SLASH = /(?<!\\)\\\//g;

/**
 * Drops what says nothing in a chart schema (zod's safe-integer bounds, string key names, empty
 * `{}` schemas, a RegExp's "\/") and writes a union of bare types as a type list.
 */
function tidy(node: Node): Node {
  const out: Node = {};
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'minimum' || key === 'maximum') && Math.abs(value as number) === SAFE_INT) continue;
    if (key === 'propertyNames' && JSON.stringify(value) === '{"type":"string"}') continue;
    if ((key === 'additionalProperties' || key === 'items') && isEmptySchema(value)) continue;
    if (key === 'properties') out[key] = Object.fromEntries(Object.entries(value as Record<string, Node>).map(([k, v]) => [k, tidy(v)]));
    else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) out[key] = tidy(value as Node);
    else if (key === 'anyOf') Object.assign(out, typeList((value as Node[]).map(tidy)));
    else if (key === 'pattern') out[key] = (value as string).replace(ESCAPED_SLASH, '/');
    else out[key] = value;
  }
  return out;
}

function isEmptySchema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length === 0;
}

function typeList(branches: Node[]): Node {
  const bare = branches.every((b) => Object.keys(b).length === 1 && typeof b.type === 'string');
  return bare ? { type: branches.map((b) => b.type) } : { anyOf: branches };
}

/** The schema node of a values path ("a.b.c"), or undefined where the schema does not describe it. */
function nodeAt(root: Node, path: string): Node | undefined {
  let node: Node | undefined = root;
  for (const step of path.split('.')) node = (node?.properties as Record<string, Node> | undefined)?.[step];
  return node;
}

/** Each value's description: its comment in values.yaml, then what the schema adds. */
function describe(root: Node): void {
  for (const [path, comment] of valuesComments()) {
    const node = nodeAt(root, path);
    if (!node) throw new Error(`chart values schema: values.yaml documents ${path}, the schema does not`);
    node.description = node.description ? `${comment} ${String(node.description)}` : comment;
  }
}

export function buildChartValuesSchema(): Node {
  const schema = tidy(z.toJSONSchema(ChartValues, { io: 'input', target: 'draft-7', unrepresentable: 'throw' }) as Node);
  describe(schema);
  return schema;
}

export function renderChartValuesSchema(): string {
  // JSON has no comments: the generator is named in the schema's own $comment.
  const { $schema, ...rest } = buildChartValuesSchema();
  const schema = { $schema, $comment: 'Generated by `npm run generate` from tools/chart-values-schema.ts. Do not edit.', ...rest };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

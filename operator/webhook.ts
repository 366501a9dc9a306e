/**
 * Sidecar injection, pure: an AdmissionReview for a Pod in, an AdmissionReview out whose
 * JSONPatch adds the Spillway sidecar as a native sidecar (an init container with
 * `restartPolicy: Always`). Never refuses a pod: anything it cannot handle is admitted
 * unchanged with a warning. Port wiring and rules: docs/injection.md; beside Istio or Linkerd:
 * docs/meshes.md (operator/webhook-mesh.ts).
 */
import { z } from 'zod';
import { annotationOps, captureArgOps, detectMeshes, reservedPortConflict, sidecarIndex, type MeshPod, type MeshPorts } from './webhook-mesh.js';
import { workloadSecretName, WORKLOAD_SECRET_KEYS } from '../api/redis-acl.js';
import { ACCESS_LOG, ACCESS_LOG_MODES, SIDECAR_LIMIT_KEYS, SIDECAR_LIMITS, type AccessLogMode, type LimitSpec, type SidecarLimits } from '../lib/sidecar-limits.js';

export const INJECT_LABEL = 'spillway.io/inject';
export const CONFIG_KEY_ANNOTATION = 'spillway.io/config-key';
export const APP_PORT_ANNOTATION = 'spillway.io/app-port';
export const INJECTED_ANNOTATION = 'spillway.io/injected';
export const SIDECAR_NAME = 'spillway';
export const STATE_VOLUME = 'spillway-state';
export const ADMIN_PORT_NAME = 'spillway-admin';
/** Per-pod overrides of the sidecar's limits and access log: `spillway.io/<sidecar flag>`. */
export const TUNING_ANNOTATION_PREFIX = 'spillway.io/';

const limit = (spec: LimitSpec) => z.number().int().min(spec.min).max(spec.max).default(spec.def);

/** What the webhook puts into pods: the chart's <fullname>-injection ConfigMap (sidecar.json). */
export const InjectionSettings = z.object({
  image: z.string().min(1),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  ports: z
    .object({
      listen: z.number().int().min(1).max(65535).default(17001),
      egress: z.number().int().min(1).max(65535).default(17002),
      admin: z.number().int().min(1).max(65535).default(17090),
    })
    .prefault({}),
  stateDir: z.string().startsWith('/').default('/var/lib/spillway'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  pollIntervalMs: z.number().int().min(100).default(10_000),
  /**
   * The sidecar's --ready-without-config-after: seconds after which a pod whose workload has no
   * TrafficPolicy turns Ready anyway (unlimited pass-through), so it cannot stall a rollout.
   * 0: the sidecar's own default (ready only with a config). The chart sets 60.
   */
  readyWithoutConfigAfterSeconds: z.number().int().min(0).max(86_400).default(0),
  /** The sidecar's engine limits (its flags of the same names); each pod may override them by annotation. */
  limits: z
    .strictObject({
      maxClientConnections: limit(SIDECAR_LIMITS.maxClientConnections),
      headerTimeoutMs: limit(SIDECAR_LIMITS.headerTimeoutMs),
      idleTimeoutMs: limit(SIDECAR_LIMITS.idleTimeoutMs),
      bodyTimeoutMs: limit(SIDECAR_LIMITS.bodyTimeoutMs),
      maxHeaderBytes: limit(SIDECAR_LIMITS.maxHeaderBytes),
      maxHeaderCount: limit(SIDECAR_LIMITS.maxHeaderCount),
    })
    .prefault({}),
  accessLog: z.enum(ACCESS_LOG_MODES).default(ACCESS_LOG.def),
  resources: z.record(z.string(), z.unknown()).default({}),
  securityContext: z.record(z.string(), z.unknown()).default({}),
  /** Empty, with no redisSecret: no injection (the operator's own Secret cannot reach other namespaces). */
  redisUrl: z.string().default(''),
  /**
   * A Secret of this name in the pod's own namespace holds the full Redis URL (credentials
   * included): the sidecar reads SPILLWAY_REDIS from it, and redisUrl is not used. perWorkload:
   * the Secret is the one the operator keeps for the pod's workload (api/redis-acl.ts
   * workloadSecretName, key `url`), with the workload's own Redis ACL user; name and key unused.
   */
  redisSecret: z
    .strictObject({ name: z.string().max(253), key: z.string().min(1).max(253), perWorkload: z.boolean().default(false) })
    .default({ name: '', key: 'url', perWorkload: false }),
  kafkaBrokers: z.array(z.string()).default([]),
});
export type InjectionSettings = z.infer<typeof InjectionSettings>;

export function parseInjectionSettings(json: unknown): InjectionSettings {
  const r = InjectionSettings.safeParse(json);
  if (!r.success) throw new Error(`injection settings: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** The restrictions every injected sidecar gets, whatever the settings say. */
const REQUIRED_SECURITY = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

interface ContainerPort {
  name?: string;
  containerPort?: number;
  protocol?: string;
}

interface Container {
  name?: string;
  ports?: ContainerPort[];
  [key: string]: unknown;
}

interface OwnerReference {
  kind?: string;
  name?: string;
  controller?: boolean;
}

interface Pod {
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: {
    containers?: Container[];
    initContainers?: Container[];
    volumes?: { name?: string }[];
  };
}

export type JsonPatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'move'; from: string; path: string };

export interface AdmissionReviewOut {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: true;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
  };
}

export type ReviewResult = { status: 200; body: AdmissionReviewOut; patch: JsonPatchOp[] } | { status: 400; error: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** JSON Pointer escaping of one path segment (RFC 6901). */
const ptr = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Handles one decoded request body. 400 only when it is not an AdmissionReview with a request
 * at all; every AdmissionReview gets `allowed: true`, with a patch when the pod is injected.
 */
export function review(body: unknown, settings: InjectionSettings): ReviewResult {
  if (!isObject(body) || body.kind !== 'AdmissionReview' || !isObject(body.request) || typeof body.request.uid !== 'string') {
    return { status: 400, error: 'expected an AdmissionReview with request.uid' };
  }
  const req = body.request;
  const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : 'admission.k8s.io/v1';
  const admit = (patch: JsonPatchOp[], warnings: string[]): ReviewResult => {
    const response: AdmissionReviewOut['response'] = { uid: req.uid as string, allowed: true };
    if (patch.length > 0) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
    }
    if (warnings.length > 0) response.warnings = warnings;
    return { status: 200, body: { apiVersion, kind: 'AdmissionReview', response }, patch };
  };
  const kind = isObject(req.kind) ? req.kind.kind : undefined;
  if (kind !== 'Pod' || (req.operation !== undefined && req.operation !== 'CREATE')) return admit([], []);
  try {
    const namespace = typeof req.namespace === 'string' ? req.namespace : undefined;
    const result = mutatePod(req.object, namespace, settings);
    if ('skip' in result) return admit([], result.warning ? [`spillway: sidecar not injected: ${result.warning}`] : []);
    return admit(result.patch, result.warnings.map((w) => `spillway: ${w}`));
  } catch (err) {
    // A pod shape no check above foresaw: admit it as it is.
    return admit([], [`spillway: sidecar not injected: ${err instanceof Error ? err.message : String(err)}`]);
  }
}

/** warnings: injected, but not quite as the pod asked (an annotation ignored). */
type MutateResult = { patch: JsonPatchOp[]; warnings: string[] } | { skip: true; warning?: string };

/** The JSONPatch that injects the sidecar into `pod`, or why not (a warning only for problems). */
export function mutatePod(object: unknown, requestNamespace: string | undefined, settings: InjectionSettings): MutateResult {
  if (!isObject(object)) return { skip: true, warning: 'the request has no pod object' };
  const pod = object as Pod;
  if (pod.metadata !== undefined && !isObject(pod.metadata)) return { skip: true, warning: 'metadata is not an object' };
  const labels = isObject(pod.metadata?.labels) ? pod.metadata.labels : {};
  if (labels[INJECT_LABEL] !== 'true') return { skip: true };
  const spec = pod.spec;
  if (!isObject(spec) || !Array.isArray(spec.containers) || spec.containers.length === 0 || !spec.containers.every(isObject)) {
    return { skip: true, warning: 'spec.containers is missing or malformed' };
  }
  if (spec.initContainers !== undefined && (!Array.isArray(spec.initContainers) || !spec.initContainers.every(isObject))) {
    return { skip: true, warning: 'spec.initContainers is malformed' };
  }
  if (spec.volumes !== undefined && !Array.isArray(spec.volumes)) return { skip: true, warning: 'spec.volumes is malformed' };
  if (pod.metadata?.annotations !== undefined && !isObject(pod.metadata.annotations)) return { skip: true, warning: 'metadata.annotations is not an object' };
  const annotations = pod.metadata?.annotations ?? {};
  const meshPod: MeshPod = { annotations, containers: spec.containers, initContainers: spec.initContainers ?? [] };
  const all = [...spec.containers, ...(spec.initContainers ?? [])];
  if (all.some((c) => c.name === SIDECAR_NAME)) return besideMesh(meshPod, settings);
  if (!settings.redisUrl && !settings.redisSecret.name && !settings.redisSecret.perWorkload) {
    return { skip: true, warning: 'the operator has no Redis URL for sidecars (redis.url or redis.sidecarSecret in the chart)' };
  }

  const namespace = requestNamespace || pod.metadata?.namespace;
  if (!namespace || !DNS_LABEL.test(namespace)) return { skip: true, warning: 'the pod has no namespace' };
  const configKey = resolveConfigKey(pod, namespace, annotations);
  if ('warning' in configKey) return { skip: true, warning: configKey.warning };
  const app = findAppPort(spec.containers, annotations[APP_PORT_ANNOTATION]);
  if ('warning' in app) return { skip: true, warning: app.warning };
  if (all.some((c) => (c.ports ?? []).some((p) => p.containerPort === settings.ports.listen || p.containerPort === settings.ports.admin))) {
    return { skip: true, warning: `a container already uses port ${settings.ports.listen} or ${settings.ports.admin}` };
  }
  const meshes = detectMeshes(meshPod);
  const conflict = reservedPortConflict(meshes, settings.ports);
  if (conflict !== undefined) return { skip: true, warning: conflict };

  const patch: JsonPatchOp[] = [];
  // The sidecar takes over the app port's name so a Service's named targetPort now reaches it.
  let inboundName: string;
  if (app.name !== undefined) {
    inboundName = app.name;
    const renamed = appPortName(app.name, all);
    patch.push({ op: 'replace', path: `/spec/containers/${app.container}/ports/${app.port}/name`, value: renamed });
    patch.push(...renameProbePorts(spec.containers[app.container], app.container, app.name, renamed));
  } else {
    inboundName = all.some((c) => (c.ports ?? []).some((p) => p.name === 'http')) ? 'spillway-http' : 'http';
  }

  const meshPorts: MeshPorts = { ...settings.ports, app: app.number };
  // Before the insertion below: these address the mesh's init containers by their index now.
  patch.push(...captureArgOps(meshPod, meshes, meshPorts));
  const tuning = podTuning(settings, annotations);
  const sidecar = sidecarContainer(settings, inboundName, app.number, configKey.key, tuning);
  if (spec.initContainers === undefined) patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar] });
  // First, so it is up before any other init container runs and the app starts; in a meshed pod
  // right after the mesh's capture and proxy containers, so its own traffic is in the mesh.
  else patch.push({ op: 'add', path: `/spec/initContainers/${sidecarIndex(spec.initContainers, meshes)}`, value: sidecar });
  const volume = { name: STATE_VOLUME, emptyDir: { sizeLimit: '16Mi' } };
  if (spec.volumes === undefined) patch.push({ op: 'add', path: '/spec/volumes', value: [volume] });
  else patch.push({ op: 'add', path: '/spec/volumes/-', value: volume });
  if (pod.metadata?.annotations === undefined) {
    if (pod.metadata === undefined) patch.push({ op: 'add', path: '/metadata', value: {} });
    patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
  }
  patch.push({ op: 'add', path: `/metadata/annotations/${ptr(INJECTED_ANNOTATION)}`, value: configKey.key });
  patch.push(...annotationOps(meshPod, meshes, meshPorts));
  return { patch, warnings: tuning.warnings };
}

/**
 * A pod that already has a `spillway` container. One this webhook injected (its annotation says
 * so) and a mesh injected since (Spillway's webhook ran first and is now reinvoked) gets what a
 * meshed pod gets at injection: the sidecar after the mesh's containers, the capture settings.
 * Anything else (a hand-written sidecar, or nothing left to do) is admitted as it is.
 */
function besideMesh(pod: MeshPod, settings: InjectionSettings): MutateResult {
  if (typeof pod.annotations[INJECTED_ANNOTATION] !== 'string') return { skip: true };
  const at = pod.initContainers.findIndex((c) => c.name === SIDECAR_NAME);
  const meshes = detectMeshes(pod);
  if (at < 0 || meshes.length === 0) return { skip: true };
  const env = pod.initContainers[at].env;
  const ports: MeshPorts = {
    listen: envPort(env, 'SPILLWAY_LISTEN') ?? settings.ports.listen,
    admin: envPort(env, 'SPILLWAY_ADMIN') ?? settings.ports.admin,
    egress: envPort(env, 'SPILLWAY_EGRESS') ?? settings.ports.egress,
    app: envPort(env, 'SPILLWAY_UPSTREAM') ?? 0,
  };
  const patch: JsonPatchOp[] = [...captureArgOps(pod, meshes, ports)];
  // Istio rewrites the HTTP probes of every container it finds, ours included, to go through
  // its agent (port 15020). With istio-proxy a regular container that agent starts only after
  // the init containers, so the sidecar's startup probe could never pass. The admin port is
  // out of capture: kubelet reaches it directly, so the sidecar gets its own probes back.
  const sidecar = pod.initContainers[at] as Container;
  for (const [key, probe] of Object.entries(sidecarProbes())) {
    const current = sidecar[key];
    const port = isObject(current) && isObject(current.httpGet) ? current.httpGet.port : undefined;
    if (port !== ADMIN_PORT_NAME && port !== ports.admin) patch.push({ op: 'add', path: `/spec/initContainers/${at}/${key}`, value: probe });
  }
  // sidecarIndex counts the sidecar itself when it sits before the last mesh container.
  const after = sidecarIndex(pod.initContainers, meshes);
  if (at < after - 1) patch.push({ op: 'move', from: `/spec/initContainers/${at}`, path: `/spec/initContainers/${after - 1}` });
  patch.push(...annotationOps(pod, meshes, ports));
  return patch.length > 0 ? { patch, warnings: [] } : { skip: true };
}

/** A port from the injected sidecar's env: a port number, or the port of a URL (SPILLWAY_UPSTREAM). */
function envPort(env: unknown, name: string): number | undefined {
  if (!Array.isArray(env)) return undefined;
  const value = env.find((e) => isObject(e) && e.name === name)?.value;
  if (typeof value !== 'string') return undefined;
  const port = Number(/^\d+$/.test(value) ? value : (/:(\d+)\/?$/.exec(value)?.[1] ?? NaN));
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** `<namespace>/<workload>`: the annotation, else the owning workload, else the generateName. */
export function resolveConfigKey(pod: Pod, namespace: string, annotations: Record<string, string>): { key: string } | { warning: string } {
  const explicit = annotations[CONFIG_KEY_ANNOTATION];
  if (explicit !== undefined) {
    const [ns, target, ...rest] = explicit.split('/');
    if (rest.length > 0 || target === undefined || !DNS_LABEL.test(ns) || !DNS_SUBDOMAIN.test(target)) {
      return { warning: `annotation ${CONFIG_KEY_ANNOTATION}: "${explicit}" is not <namespace>/<target>` };
    }
    return { key: explicit };
  }
  const owners = Array.isArray(pod.metadata?.ownerReferences) ? pod.metadata.ownerReferences.filter(isObject) : [];
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  let target: string | undefined;
  if (owner && typeof owner.name === 'string') {
    target = owner.name;
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    // A Deployment's ReplicaSet is <deployment>-<pod-template-hash>.
    if (owner.kind === 'ReplicaSet' && hash && target.endsWith(`-${hash}`)) target = target.slice(0, -hash.length - 1);
  } else if (typeof pod.metadata?.generateName === 'string' && pod.metadata.generateName.replace(/-+$/, '') !== '') {
    target = pod.metadata.generateName.replace(/-+$/, '');
  } else if (typeof pod.metadata?.name === 'string' && pod.metadata.name !== '') {
    target = pod.metadata.name;
  }
  if (target === undefined || !DNS_SUBDOMAIN.test(target)) return { warning: `no workload name for the config key (set annotation ${CONFIG_KEY_ANNOTATION})` };
  return { key: `${namespace}/${target}` };
}

type AppPort = { container: number; port: number; name: string | undefined; number: number } | { warning: string };

/** The app port: the annotation (a name or number), else the port named http, else the first containerPort. */
export function findAppPort(containers: Container[], annotation: string | undefined): AppPort {
  const ports: { container: number; port: number; p: ContainerPort }[] = [];
  containers.forEach((c, ci) => {
    if (Array.isArray(c.ports)) c.ports.forEach((p, pi) => {
      if (isObject(p) && typeof p.containerPort === 'number') ports.push({ container: ci, port: pi, p });
    });
  });
  const found = (e: { container: number; port: number; p: ContainerPort }): AppPort => ({
    container: e.container,
    port: e.port,
    name: typeof e.p.name === 'string' && e.p.name !== '' ? e.p.name : undefined,
    number: e.p.containerPort as number,
  });
  if (annotation !== undefined) {
    const byName = ports.find((e) => e.p.name === annotation);
    if (byName) return found(byName);
    const n = /^\d+$/.test(annotation) ? Number(annotation) : NaN;
    if (!(n >= 1 && n <= 65535)) return { warning: `annotation ${APP_PORT_ANNOTATION}: "${annotation}" is neither a port name in the pod nor a port number` };
    const byNumber = ports.find((e) => e.p.containerPort === n);
    // An undeclared port is fine: there is no name to take over, the Service must name the sidecar's.
    return byNumber ? found(byNumber) : { container: -1, port: -1, name: undefined, number: n };
  }
  const http = ports.find((e) => e.p.name === 'http');
  if (http) return found(http);
  if (ports.length > 0) return found(ports[0]);
  return { warning: `the pod declares no containerPort (set annotation ${APP_PORT_ANNOTATION})` };
}

/** The sidecar's limits and access log for this pod: the installation's, each overridable by annotation. */
export interface Tuning {
  limits: SidecarLimits;
  accessLog: AccessLogMode;
  /** Annotations ignored because their value is out of bounds (the installation's value is used). */
  warnings: string[];
}

/** Longer annotation values are cut in a warning: the pod's author controls them. */
const MAX_ECHO = 64;
const echo = (v: string): string => JSON.stringify(v.length > MAX_ECHO ? `${v.slice(0, MAX_ECHO)}…` : v);

/**
 * `spillway.io/<flag>` annotations override the chart's values for one pod, within the flag's
 * own bounds. A bad value is ignored with a warning, not a reason to leave the pod unprotected
 * (no sidecar) or to refuse it: the installation's value is a safe fallback.
 */
export function podTuning(s: InjectionSettings, annotations: Record<string, unknown>): Tuning {
  const limits = { ...s.limits };
  const warnings: string[] = [];
  for (const key of SIDECAR_LIMIT_KEYS) {
    const spec = SIDECAR_LIMITS[key];
    const name = `${TUNING_ANNOTATION_PREFIX}${spec.flag}`;
    const raw = annotations[name];
    if (raw === undefined) continue;
    const n = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
    if (n >= spec.min && n <= spec.max) limits[key] = n;
    else warnings.push(`annotation ${name}: ${echo(String(raw))} is not an integer in ${spec.min}..${spec.max}; using ${limits[key]}`);
  }
  let accessLog = s.accessLog;
  const name = `${TUNING_ANNOTATION_PREFIX}${ACCESS_LOG.flag}`;
  const raw = annotations[name];
  if (raw !== undefined) {
    if ((ACCESS_LOG_MODES as readonly unknown[]).includes(raw)) accessLog = raw as AccessLogMode;
    else warnings.push(`annotation ${name}: ${echo(String(raw))} is not one of ${ACCESS_LOG_MODES.join(', ')}; using ${accessLog}`);
  }
  return { limits, accessLog, warnings };
}

/** `app-<name>` within the 15 characters a port name may have, unique in the pod. */
function appPortName(name: string, containers: Container[]): string {
  const taken = new Set(containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
  for (let i = 0; ; i++) {
    const suffix = i === 0 ? '' : `-${i}`;
    const base = `app-${name}`.slice(0, 15 - suffix.length).replace(/-+$/, '');
    const candidate = `${base}${suffix}`;
    if (PORT_NAME.test(candidate) && !taken.has(candidate)) return candidate;
  }
}

/** The app's own probes that named the renamed port follow it (kubelet resolves names per container). */
function renameProbePorts(container: Container, index: number, from: string, to: string): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = container[probe];
    if (!isObject(p)) continue;
    for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
      const h = p[handler];
      if (isObject(h) && h.port === from) ops.push({ op: 'replace', path: `/spec/containers/${index}/${probe}/${handler}/port`, value: to });
    }
  }
  return ops;
}

/** SPILLWAY_REDIS: from a Secret in the pod's namespace (per workload, or one for all), else the literal URL (no credentials). */
function redisEnv(s: InjectionSettings, configKey: string): Record<string, unknown> {
  if (s.redisSecret.perWorkload) {
    // Optional: a workload with no TrafficPolicy has no Secret yet; its pods must still start
    // (SPILLWAY_REDIS_OPTIONAL, below), unconfigured and reported by SpillwaySidecarUnconfigured.
    const name = workloadSecretName(configKey.slice(configKey.indexOf('/') + 1));
    return { name: 'SPILLWAY_REDIS', valueFrom: { secretKeyRef: { name, key: WORKLOAD_SECRET_KEYS.url, optional: true } } };
  }
  if (s.redisSecret.name) return { name: 'SPILLWAY_REDIS', valueFrom: { secretKeyRef: { name: s.redisSecret.name, key: s.redisSecret.key } } };
  return { name: 'SPILLWAY_REDIS', value: s.redisUrl };
}

export function sidecarContainer(s: InjectionSettings, inboundName: string, appPort: number, configKey: string, tuning: Tuning): Record<string, unknown> {
  const env: Record<string, unknown>[] = [
    { name: 'SPILLWAY_LISTEN', value: String(s.ports.listen) },
    { name: 'SPILLWAY_UPSTREAM', value: `http://127.0.0.1:${appPort}` },
    { name: 'SPILLWAY_ADMIN', value: String(s.ports.admin) },
    { name: 'SPILLWAY_EGRESS', value: String(s.ports.egress) },
    redisEnv(s, configKey),
    { name: 'SPILLWAY_CONFIG_KEY', value: configKey },
  ];
  if (s.redisSecret.perWorkload) env.push({ name: 'SPILLWAY_REDIS_OPTIONAL', value: 'true' });
  if (s.kafkaBrokers.length > 0) env.push({ name: 'SPILLWAY_KAFKA', value: s.kafkaBrokers.join(',') });
  env.push(
    { name: 'SPILLWAY_STATE_DIR', value: s.stateDir },
    { name: 'SPILLWAY_LOG_LEVEL', value: s.logLevel },
    { name: 'SPILLWAY_POLL_INTERVAL_MS', value: String(s.pollIntervalMs) },
    { name: 'SPILLWAY_READY_WITHOUT_CONFIG_AFTER', value: String(s.readyWithoutConfigAfterSeconds) },
    ...SIDECAR_LIMIT_KEYS.map((key) => ({ name: SIDECAR_LIMITS[key].env, value: String(tuning.limits[key]) })),
    { name: ACCESS_LOG.env, value: tuning.accessLog },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  );
  return {
    name: SIDECAR_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    // Native sidecar: started before the app containers, stopped after them.
    restartPolicy: 'Always',
    args: ['sidecar'],
    env,
    ports: [
      { name: inboundName, containerPort: s.ports.listen, protocol: 'TCP' },
      { name: ADMIN_PORT_NAME, containerPort: s.ports.admin, protocol: 'TCP' },
    ],
    ...sidecarProbes(),
    resources: s.resources,
    securityContext: { ...s.securityContext, ...REQUIRED_SECURITY },
    volumeMounts: [{ name: STATE_VOLUME, mountPath: s.stateDir }],
  };
}

type ProbeKey = 'startupProbe' | 'livenessProbe' | 'readinessProbe';

/** The sidecar's probes, all on its admin port by name (kubelet calls it directly). */
function sidecarProbes(): Record<ProbeKey, Record<string, unknown>> {
  const admin = { path: '', port: ADMIN_PORT_NAME };
  return {
    startupProbe: { httpGet: { ...admin, path: '/healthz' }, periodSeconds: 1, failureThreshold: 60 },
    livenessProbe: { httpGet: { ...admin, path: '/healthz' }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    readinessProbe: { httpGet: { ...admin, path: '/readyz' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
  };
}

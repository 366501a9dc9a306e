/**
 * KubeApi over `@kubernetes/client-node` (the only module importing it): typed API calls for
 * reads and writes, the library's Watch for streams. Kubeconfig from --kubeconfig/KUBECONFIG,
 * else in-cluster.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  V1MicroTime,
  Watch,
  setHeaderOptions,
  type V1Lease,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../api/policy.js';
import {
  KubeError,
  type EventInput,
  type KubeApi,
  type SecretApi,
  type WebhookKubeApi,
  type LeaseRecord,
  type ListResult,
  type ListWatch,
  type LabelSelector,
  type ObjectMeta,
  type PodObject,
  type PolicyObject,
  type SecretRecord,
  type WatchEvent,
  type WatchEventType,
  type WatchHandle,
  type WorkloadKind,
  type WorkloadObject,
} from './kube-api.js';
import { SIDECAR_NAME } from './webhook.js';

export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new Error(`kubeconfig ${kubeconfig}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else throw new Error('no kubeconfig: pass --kubeconfig or set KUBECONFIG, or run in a cluster');
  reuseAgents(kc);
  return kc;
}

/** What a kubectl plugin reads from the kubeconfig: the client, and the namespace the context defaults to. */
export interface KubectlContext {
  kube: ClientKubeApi;
  /** The context's namespace, else "default" (as kubectl). */
  namespace: string;
}

/**
 * The kubeconfig as kubectl reads it: --kubeconfig, else KUBECONFIG (several files joined by
 * ":"), else ~/.kube/config, else in-cluster; --context picks a context other than the current one.
 */
export function loadKubectlContext(opts: { kubeconfig?: string; context?: string }): KubectlContext {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`kubeconfig ${opts.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config'}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (opts.context !== undefined) {
    if (!kc.getContextObject(opts.context)) throw new Error(`context "${opts.context}" not found in the kubeconfig`);
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig: pass --kubeconfig or set KUBECONFIG');
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  reuseAgents(kc);
  return { kube: new ClientKubeApi(kc, 'kubectl-spillway'), namespace };
}

type AgentFactory = (cluster: { server?: string; proxyUrl?: string } | null, options: Record<string, unknown>) => Agent;

/**
 * client-node 1.x builds a new Agent for every request, so every call opened a new connection
 * (and against a real API server a new TLS handshake): a cold start with 1,000 policies spent
 * most of its time connecting. One keep-alive agent per set of options is reused instead (new
 * options, e.g. rotated client certificates, get a new agent). Proxy agents are left alone.
 */
function reuseAgents(kc: KubeConfig): void {
  const target = kc as unknown as { createAgent: AgentFactory };
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    if (cluster?.proxyUrl) return original(cluster, options);
    const key = JSON.stringify([cluster?.server, options]);
    let agent = agents.get(key);
    if (!agent) {
      if (agents.size >= 8) agents.clear();
      agent = original(cluster, { ...options, keepAlive: true });
      agents.set(key, agent);
    }
    return agent;
  };
}

/** Our KubeError from whatever the client threw. */
function toKubeError(err: unknown): unknown {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
    let message = `HTTP ${err.code}`;
    try {
      const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
      if (parsed?.message) message = parsed.message;
    } catch {
      // the body was not JSON: keep the status line
    }
    return new KubeError(err.code, message);
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number') return new KubeError(status, (err as Error).message);
  return err;
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toKubeError(err);
  }
}

function toMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') return Date.parse(v) || 0;
  return 0;
}

function meta(m: Record<string, unknown> | undefined): ObjectMeta {
  const src = m ?? {};
  const out: ObjectMeta = { name: String(src.name ?? ''), namespace: String(src.namespace ?? '') };
  if (src.resourceVersion !== undefined) out.resourceVersion = String(src.resourceVersion);
  if (typeof src.generation === 'number') out.generation = src.generation;
  if (typeof src.uid === 'string') out.uid = src.uid;
  if (src.creationTimestamp) out.creationTimestamp = new Date(toMs(src.creationTimestamp)).toISOString();
  if (src.deletionTimestamp) out.deletionTimestamp = new Date(toMs(src.deletionTimestamp)).toISOString();
  if (Array.isArray(src.finalizers)) out.finalizers = src.finalizers.map(String);
  return out;
}

function toWorkload(kind: WorkloadKind, o: { metadata?: object; spec?: { selector?: object }; status?: { readyReplicas?: number } }): WorkloadObject {
  const w: WorkloadObject = { kind, metadata: meta(o.metadata as Record<string, unknown>), readyReplicas: o.status?.readyReplicas ?? 0 };
  if (o.spec?.selector) w.selector = o.spec.selector as LabelSelector;
  return w;
}

type RawPod = {
  metadata?: { labels?: Record<string, string> } & Record<string, unknown>;
  spec?: { containers?: Array<{ name?: string }>; initContainers?: Array<{ name?: string }> };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
};

/** The few facts the operator keeps of a pod (a cluster has many; the rest is dropped at once). */
function toPod(o: RawPod): PodObject {
  const m = meta(o.metadata);
  const ready = !m.deletionTimestamp && (o.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const sidecar = [...(o.spec?.containers ?? []), ...(o.spec?.initContainers ?? [])].some((c) => c.name === SIDECAR_NAME);
  return { metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion }, labels: { ...(o.metadata?.labels ?? {}) }, ready, sidecar };
}

function toLease(l: V1Lease): LeaseRecord {
  const s = l.spec ?? {};
  return {
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 15,
    acquireTime: toMs(s.acquireTime),
    renewTime: toMs(s.renewTime),
    leaseTransitions: s.leaseTransitions ?? 0,
    resourceVersion: l.metadata?.resourceVersion,
  };
}

function fromLease(namespace: string, name: string, r: LeaseRecord): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, resourceVersion: r.resourceVersion },
    spec: {
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      acquireTime: r.acquireTime ? new V1MicroTime(r.acquireTime) : undefined,
      renewTime: r.renewTime ? new V1MicroTime(r.renewTime) : undefined,
      leaseTransitions: r.leaseTransitions,
    },
  };
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const JSON_PATCH = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

export class ClientKubeApi implements KubeApi, WebhookKubeApi, SecretApi {
  readonly policies: ListWatch<PolicyObject>;
  readonly deployments: ListWatch<WorkloadObject>;
  readonly statefulSets: ListWatch<WorkloadObject>;
  readonly pods: ListWatch<PodObject>;
  private readonly custom: CustomObjectsApi;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly watcher: Watch;

  constructor(
    kc: KubeConfig,
    private readonly reportingInstance: string,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
    this.watcher = new Watch(kc);
    const g = { group: GROUP, version: VERSION, plural: PLURAL };
    this.policies = this.listWatch(
      async (ns) => {
        const list = (await (ns
          ? this.custom.listNamespacedCustomObject({ ...g, namespace: ns })
          : this.custom.listClusterCustomObject(g))) as { items: PolicyObject[]; metadata?: { resourceVersion?: string } };
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      (ns) => `/apis/${GROUP}/${VERSION}/${ns ? `namespaces/${ns}/` : ''}${PLURAL}`,
      (o) => o as PolicyObject,
    );
    this.deployments = this.listWatch(
      async (ns) => {
        const list = await (ns ? this.apps.listNamespacedDeployment({ namespace: ns }) : this.apps.listDeploymentForAllNamespaces());
        return { items: list.items.map((d) => toWorkload('Deployment', d)), resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      (ns) => `/apis/apps/v1/${ns ? `namespaces/${ns}/` : ''}deployments`,
      (o) => toWorkload('Deployment', o as Parameters<typeof toWorkload>[1]),
    );
    this.statefulSets = this.listWatch(
      async (ns) => {
        const list = await (ns ? this.apps.listNamespacedStatefulSet({ namespace: ns }) : this.apps.listStatefulSetForAllNamespaces());
        return { items: list.items.map((d) => toWorkload('StatefulSet', d)), resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      (ns) => `/apis/apps/v1/${ns ? `namespaces/${ns}/` : ''}statefulsets`,
      (o) => toWorkload('StatefulSet', o as Parameters<typeof toWorkload>[1]),
    );
    this.pods = this.listWatch(
      async (ns) => {
        const list = await (ns ? this.core.listNamespacedPod({ namespace: ns }) : this.core.listPodForAllNamespaces());
        return { items: list.items.map((p) => toPod(p as RawPod)), resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      (ns) => `/api/v1/${ns ? `namespaces/${ns}/` : ''}pods`,
      (o) => toPod(o as RawPod),
    );
  }

  private listWatch<T>(
    list: (ns: string | undefined) => Promise<ListResult<T>>,
    path: (ns: string | undefined) => string,
    convert: (o: unknown) => T,
  ): ListWatch<T> {
    return {
      list: (ns) => call(() => list(ns)),
      watch: async (ns, resourceVersion, onEvent, onDone) => {
        let finished = false;
        const finish = (err: unknown) => {
          if (finished) return;
          finished = true;
          onDone(err);
        };
        let controller: AbortController | null = null;
        controller = await this.watcher.watch(
          path(ns),
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
          (phase: string, obj: unknown) => {
            if (finished) return;
            if (phase === 'ERROR') {
              const status = obj as { code?: number; message?: string };
              finish(new KubeError(status.code ?? 500, status.message ?? 'watch error'));
              controller?.abort();
              return;
            }
            onEvent({ type: phase as WatchEventType, object: convert(obj) } as WatchEvent<T>);
          },
          (err: unknown) => finish(err ? toKubeError(err) : null),
        );
        const handle: WatchHandle = {
          stop: () => {
            finished = true;
            controller?.abort();
          },
        };
        return handle;
      },
    };
  }

  async patchPolicyStatus(namespace: string, name: string, status: PolicyObject['status']): Promise<void> {
    await call(() =>
      this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
        MERGE_PATCH,
      ),
    );
  }

  async setPolicyFinalizers(namespace: string, name: string, finalizers: string[], resourceVersion: string): Promise<PolicyObject> {
    const res = await call(() =>
      this.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { metadata: { finalizers, resourceVersion } } },
        MERGE_PATCH,
      ),
    );
    return res as PolicyObject;
  }

  async createEvent(e: EventInput): Promise<void> {
    const now = new Date();
    const m = e.policy.metadata;
    await call(() =>
      this.core.createNamespacedEvent({
        namespace: e.namespace,
        body: {
          metadata: { name: `${m.name}.${randomBytes(8).toString('hex')}`, namespace: e.namespace },
          involvedObject: {
            apiVersion: e.policy.apiVersion,
            kind: e.policy.kind,
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resourceVersion: m.resourceVersion,
          },
          type: e.type,
          reason: e.reason,
          message: e.message,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: 'spillway-operator' },
          reportingComponent: 'spillway.io/operator',
          reportingInstance: this.reportingInstance,
        },
      }),
    );
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | null> {
    try {
      return toLease(await call(() => this.coordination.readNamespacedLease({ namespace, name })));
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return null;
      throw err;
    }
  }

  async createLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord> {
    const body = fromLease(namespace, name, { ...lease, resourceVersion: undefined });
    return toLease(await call(() => this.coordination.createNamespacedLease({ namespace, body })));
  }

  async replaceLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord> {
    const body = fromLease(namespace, name, lease);
    return toLease(await call(() => this.coordination.replaceNamespacedLease({ namespace, name, body })));
  }

  async getSecret(namespace: string, name: string): Promise<SecretRecord | null> {
    try {
      return toSecret(await call(() => this.core.readNamespacedSecret({ namespace, name })));
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return null;
      throw err;
    }
  }

  async createSecret(namespace: string, name: string, data: Record<string, string>): Promise<SecretRecord> {
    const body = { metadata: { name, namespace }, type: 'Opaque', data: encodeData(data) };
    return toSecret(await call(() => this.core.createNamespacedSecret({ namespace, body })));
  }

  async replaceSecret(namespace: string, name: string, secret: SecretRecord): Promise<SecretRecord> {
    const body = { metadata: { name, namespace, resourceVersion: secret.resourceVersion }, type: 'Opaque', data: encodeData(secret.data) };
    return toSecret(await call(() => this.core.replaceNamespacedSecret({ namespace, name, body })));
  }

  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    try {
      await call(() => this.core.deleteNamespacedSecret({ namespace, name }));
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return false;
      throw err;
    }
  }

  async patchWebhookCaBundle(name: string, caBundle: string): Promise<boolean> {
    const config = await call(() => this.admission.readMutatingWebhookConfiguration({ name }));
    const hooks = config.webhooks ?? [];
    // `test` first: a configuration replaced meanwhile (helm upgrade) fails with 422, not a wrong index.
    const ops = hooks.flatMap((h, i) =>
      h.clientConfig.caBundle === caBundle
        ? []
        : [
            { op: 'test', path: `/webhooks/${i}/name`, value: h.name },
            { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
          ],
    );
    if (ops.length === 0) return false;
    await call(() => this.admission.patchMutatingWebhookConfiguration({ name, body: ops }, JSON_PATCH));
    return true;
  }
}

function toSecret(s: { data?: Record<string, string>; metadata?: { resourceVersion?: string } }): SecretRecord {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  return { data, resourceVersion: s.metadata?.resourceVersion };
}

function encodeData(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

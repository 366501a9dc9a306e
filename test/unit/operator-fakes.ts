/** In-memory stand-ins for the operator's unit tests: a manual clock and a KubeApi with list/watch. */
import type { Clock } from '../../operator/clock.js';
import {
  KubeError,
  objectKey,
  type EventInput,
  type KubeApi,
  type LeaseRecord,
  type ListWatch,
  type PodObject,
  type PolicyObject,
  type WatchEvent,
  type WorkloadKind,
  type WorkloadObject,
} from '../../operator/kube-api.js';

export class ManualClock implements Clock {
  private t = 1_700_000_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing due timers in order (and those they schedule within the span). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

type Listener<T> = { ns: string | undefined; onEvent: (e: WatchEvent<T>) => void; onDone: (err: unknown) => void };

class FakeResource<T extends { metadata: { namespace: string; name: string; resourceVersion?: string } }> implements ListWatch<T> {
  readonly items = new Map<string, T>();
  private readonly listeners = new Set<Listener<T>>();
  listCalls = 0;
  failLists = 0;

  constructor(private readonly rv: () => string) {}

  async list(ns: string | undefined) {
    this.listCalls++;
    if (this.failLists > 0) {
      this.failLists--;
      throw new Error('connection refused');
    }
    const items = [...this.items.values()].filter((o) => !ns || o.metadata.namespace === ns).map(clone);
    return { items, resourceVersion: this.rv() };
  }

  async watch(ns: string | undefined, _rv: string, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void) {
    const l = { ns, onEvent, onDone };
    this.listeners.add(l);
    return { stop: () => this.listeners.delete(l) };
  }

  put(obj: T, type: 'ADDED' | 'MODIFIED'): void {
    obj.metadata.resourceVersion = this.rv();
    this.items.set(objectKey(obj.metadata), obj);
    this.emit({ type, object: obj });
  }

  remove(key: string): void {
    const obj = this.items.get(key);
    if (!obj) return;
    this.items.delete(key);
    this.emit({ type: 'DELETED', object: obj });
  }

  /** Ends every watch: with a 410 (expired version) or a broken connection. */
  endWatches(err: unknown): void {
    for (const l of [...this.listeners]) {
      this.listeners.delete(l);
      l.onDone(err);
    }
  }

  get watchers(): number {
    return this.listeners.size;
  }

  private emit(e: WatchEvent<T>): void {
    for (const l of [...this.listeners]) if (!l.ns || l.ns === e.object.metadata.namespace) l.onEvent({ type: e.type, object: clone(e.object) });
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

export class FakeKube implements KubeApi {
  private rvCounter = 100;
  private readonly nextRv = () => String(++this.rvCounter);
  readonly policies = new FakeResource<PolicyObject>(this.nextRv);
  readonly deployments = new FakeResource<WorkloadObject>(this.nextRv);
  readonly statefulSets = new FakeResource<WorkloadObject>(this.nextRv);
  readonly pods = new FakeResource<PodObject>(this.nextRv);
  readonly events: EventInput[] = [];
  readonly statusWrites: Array<{ key: string; status: PolicyObject['status'] }> = [];
  readonly leases = new Map<string, LeaseRecord>();
  private created = 0;

  applyPolicy(p: { name: string; namespace?: string; spec: unknown; creationTimestamp?: string }): PolicyObject {
    const namespace = p.namespace ?? 'talk';
    const key = `${namespace}/${p.name}`;
    const old = this.policies.items.get(key);
    if (old) {
      const next = clone(old);
      if (JSON.stringify(old.spec) !== JSON.stringify(p.spec)) next.metadata.generation = (old.metadata.generation ?? 1) + 1;
      next.spec = clone(p.spec);
      this.policies.put(next, 'MODIFIED');
      return next;
    }
    const obj: PolicyObject = {
      apiVersion: 'spillway.io/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: {
        name: p.name,
        namespace,
        generation: 1,
        uid: `uid-${p.name}-${++this.created}`,
        creationTimestamp: p.creationTimestamp ?? new Date(Date.UTC(2026, 0, 1, 0, 0, this.created)).toISOString(),
      },
      spec: clone(p.spec),
    };
    this.policies.put(obj, 'ADDED');
    return obj;
  }

  getPolicy(ns: string, name: string): PolicyObject | undefined {
    return this.policies.items.get(`${ns}/${name}`);
  }

  deletePolicy(ns: string, name: string): void {
    const key = `${ns}/${name}`;
    const p = this.policies.items.get(key);
    if (!p) return;
    if ((p.metadata.finalizers ?? []).length === 0) return this.policies.remove(key);
    const next = clone(p);
    next.metadata.deletionTimestamp = new Date().toISOString();
    this.policies.put(next, 'MODIFIED');
  }

  setWorkload(kind: WorkloadKind, ns: string, name: string, readyReplicas: number): void {
    const res = kind === 'Deployment' ? this.deployments : this.statefulSets;
    const old = res.items.get(`${ns}/${name}`);
    res.put({ kind, metadata: { namespace: ns, name }, readyReplicas, selector: { matchLabels: { app: name } } }, old ? 'MODIFIED' : 'ADDED');
  }

  /** A pod labelled `app: <app>` (what setWorkload's selector picks). */
  setPod(ns: string, name: string, p: { app: string; ready?: boolean; sidecar?: boolean; labels?: Record<string, string> }): void {
    const old = this.pods.items.get(`${ns}/${name}`);
    const pod: PodObject = { metadata: { namespace: ns, name }, labels: { app: p.app, ...p.labels }, ready: p.ready ?? true, sidecar: p.sidecar ?? false };
    this.pods.put(pod, old ? 'MODIFIED' : 'ADDED');
  }

  deletePod(ns: string, name: string): void {
    this.pods.remove(`${ns}/${name}`);
  }

  deleteWorkload(kind: WorkloadKind, ns: string, name: string): void {
    (kind === 'Deployment' ? this.deployments : this.statefulSets).remove(`${ns}/${name}`);
  }

  async patchPolicyStatus(namespace: string, name: string, status: PolicyObject['status']): Promise<void> {
    const p = this.policies.items.get(`${namespace}/${name}`);
    if (!p) throw new KubeError(404, 'not found');
    const next = clone(p);
    next.status = clone(status);
    this.statusWrites.push({ key: `${namespace}/${name}`, status: clone(status) });
    this.policies.put(next, 'MODIFIED');
  }

  async setPolicyFinalizers(namespace: string, name: string, finalizers: string[], resourceVersion: string): Promise<PolicyObject> {
    const key = `${namespace}/${name}`;
    const p = this.policies.items.get(key);
    if (!p) throw new KubeError(404, 'not found');
    if (p.metadata.resourceVersion !== resourceVersion) throw new KubeError(409, 'the object has been modified');
    const next = clone(p);
    next.metadata.finalizers = finalizers;
    if (next.metadata.deletionTimestamp && finalizers.length === 0) {
      this.policies.remove(key);
      return next;
    }
    this.policies.put(next, 'MODIFIED');
    return clone(next);
  }

  async createEvent(e: EventInput): Promise<void> {
    this.events.push(e);
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | null> {
    const l = this.leases.get(`${namespace}/${name}`);
    return l ? { ...l } : null;
  }

  async createLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord> {
    const key = `${namespace}/${name}`;
    if (this.leases.has(key)) throw new KubeError(409, 'already exists');
    const stored = { ...lease, resourceVersion: this.nextRv() };
    this.leases.set(key, stored);
    return { ...stored };
  }

  async replaceLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord> {
    const key = `${namespace}/${name}`;
    const cur = this.leases.get(key);
    if (!cur) throw new KubeError(404, 'not found');
    if (cur.resourceVersion !== lease.resourceVersion) throw new KubeError(409, 'the object has been modified');
    const stored = { ...lease, resourceVersion: this.nextRv() };
    this.leases.set(key, stored);
    return { ...stored };
  }
}

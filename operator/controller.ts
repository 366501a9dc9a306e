/**
 * Wires informers, the target→policies index, the work queue and the reconciler: policy
 * changes enqueue the policy (and the others naming the same target, for conflicts); a change
 * of a workload's ready replicas or selector enqueues the policies that target it, and so does
 * a pod of it turning ready, gaining or losing the sidecar, or coming and going (protection).
 */
import { silentLogger, type Logger } from '../lib/log.js';
import { systemClock, type Clock } from './clock.js';
import { Informer } from './informer.js';
import { objectKey, type KubeApi, type PodObject, type PolicyObject, type WorkloadKind, type WorkloadObject } from './kube-api.js';
import type { OperatorMetrics } from './metrics.js';
import type { ConfigPublisher } from './publisher.js';
import { protectionChanged, selectorMatches } from './protection.js';
import { FINALIZER, NotLeaderError, Reconciler, targetIndexKey, targetOf, type TargetRef, type ReconcilerDeps } from './reconcile.js';
import { VendorHealthTracker } from './vendor-health.js';
import { WorkQueue } from './workqueue.js';

export interface ControllerOptions {
  kube: KubeApi;
  publisher: ConfigPublisher;
  metrics: OperatorMetrics;
  /** Namespaces to watch; empty: all. */
  namespaces?: string[];
  workers?: number;
  /** Every policy is reconciled again this often, so drift (e.g. a flushed Redis) heals. */
  resyncMs?: number;
  canWrite?: () => boolean;
  /**
   * How often the leader checks that Redis still holds its marker key (default 2 s; 0: never).
   * A missing marker means Redis lost its data: every policy is republished at once, instead
   * of at the next resync, before sidecars take the missing keys for deletions.
   */
  dataLossCheckMs?: number;
  /** How often the leader aggregates the sidecars' vendor reports (default 5 s; 0: never). */
  vendorHealthIntervalMs?: number;
  clock?: Clock;
  log?: Logger;
  /** Per-workload Redis ACL users and their Secrets (--workload-redis-url). */
  workloadUsers?: ReconcilerDeps['workloadUsers'];
}

/** The work queue's `name` label on the workqueue_* metrics. */
export const WORK_QUEUE_NAME = 'trafficpolicy';

type WorkloadInformers = Map<string | undefined, Informer<WorkloadObject>>;

export class Controller {
  readonly queue: WorkQueue;
  private readonly policyInformers: Informer<PolicyObject>[] = [];
  private readonly workloads: Record<WorkloadKind, WorkloadInformers> = { Deployment: new Map(), StatefulSet: new Map() };
  private readonly podInformers: Informer<PodObject>[] = [];
  /** namespace → pod name → pod: a reconcile looks at one namespace's pods. */
  private readonly podsByNamespace = new Map<string, Map<string, PodObject>>();
  private readonly index = new Map<string, Set<string>>();
  private readonly reconciler: Reconciler;
  readonly vendorHealth: VendorHealthTracker | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly reconcileLog: Logger;
  private workersRunning: Promise<void>[] = [];
  private resyncTimer: unknown = null;
  private syncTimer: unknown = null;
  private markerTimer: unknown = null;
  private stopped = false;

  constructor(private readonly opts: ControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.reconcileLog = this.log.child({ component: 'reconcile' });
    this.queue = new WorkQueue({ clock: this.clock, metrics: opts.metrics.workQueues.forQueue(WORK_QUEUE_NAME, this.clock) });
    const namespaces: (string | undefined)[] = opts.namespaces?.length ? opts.namespaces : [undefined];
    const informerOpts = { clock: this.clock, log: this.log.child({ component: 'informer' }) };
    for (const ns of namespaces) {
      const policies = new Informer(`trafficpolicies${ns ? ` in ${ns}` : ''}`, opts.kube.policies, ns, informerOpts);
      policies.addHandlers({
        onAdd: (p) => this.policyChanged(undefined, p),
        onUpdate: (a, b) => this.policyChanged(a, b),
        onDelete: (p) => this.policyChanged(p, undefined),
      });
      this.policyInformers.push(policies);
      for (const [kind, source] of [
        ['Deployment', opts.kube.deployments],
        ['StatefulSet', opts.kube.statefulSets],
      ] as const) {
        const inf = new Informer(`${kind}s${ns ? ` in ${ns}` : ''}`, source, ns, informerOpts);
        inf.addHandlers({
          onAdd: (w) => this.workloadChanged(w),
          onUpdate: (a, b) => {
            if (a.readyReplicas !== b.readyReplicas || JSON.stringify(a.selector) !== JSON.stringify(b.selector)) this.workloadChanged(b);
          },
          onDelete: (w) => this.workloadChanged(w),
        });
        this.workloads[kind].set(ns, inf);
      }
      const pods = new Informer(`pods${ns ? ` in ${ns}` : ''}`, opts.kube.pods, ns, informerOpts);
      pods.addHandlers({
        onAdd: (p) => this.podChanged(undefined, p),
        onUpdate: (a, b) => this.podChanged(a, b),
        onDelete: (p) => this.podChanged(p, undefined),
      });
      this.podInformers.push(pods);
    }
    this.vendorHealth =
      opts.vendorHealthIntervalMs === 0
        ? undefined
        : new VendorHealthTracker({
            reader: opts.publisher,
            intervalMs: opts.vendorHealthIntervalMs,
            clock: this.clock,
            log: this.log.child({ component: 'vendor-health' }),
            onChange: (key) => this.queue.add(key),
            onRejected: (reason) => opts.metrics.vendorReportsRejected.inc({ reason }),
          });
    this.reconciler = new Reconciler({
      kube: opts.kube,
      publisher: opts.publisher,
      getPolicy: (ns, name) => this.policyInformer(ns)?.get(ns, name),
      getWorkload: (kind, ns, name) => this.workloadInformer(kind, ns)?.get(ns, name),
      policiesForTarget: (t) => this.policiesForTarget(t),
      canWrite: opts.canWrite,
      log: this.reconcileLog,
      onPublished: () => opts.metrics.publishedTotal.inc(),
      vendorHealth: this.vendorHealth,
      onVendorFailover: (route) => opts.metrics.vendorFailovers.inc({ route }),
      podsIn: (ns) => this.podsByNamespace.get(ns)?.values() ?? [],
      workloadUsers: opts.workloadUsers,
      onProtection: (key, unprotected) => {
        // policy_namespace: Prometheus sets `namespace` to the operator's own on scrape.
        const [ns, policy] = key.split('/') as [string, string];
        if (unprotected === undefined) opts.metrics.unprotectedReplicas.remove({ policy_namespace: ns, policy });
        else opts.metrics.unprotectedReplicas.set({ policy_namespace: ns, policy }, unprotected);
      },
    });
  }

  /** Starts the caches (a standby keeps them warm so it can take over at once). */
  startInformers(): void {
    for (const inf of this.allInformers()) inf.start();
  }

  hasSynced(): boolean {
    return this.allInformers().every((inf) => inf.hasSynced());
  }

  /**
   * Starts reconciling (the leader only) once the caches have synced, so no reconcile sees a
   * half-listed world (a target "missing" only because its list has not arrived yet).
   */
  startWorkers(): void {
    if (this.workersRunning.length || this.stopped) return;
    if (!this.hasSynced()) {
      this.syncTimer = this.clock.setTimeout(() => {
        this.syncTimer = null;
        this.startWorkers();
      }, 50);
      return;
    }
    const n = this.opts.workers ?? 4;
    for (let i = 0; i < n; i++) this.workersRunning.push(this.worker());
    this.enqueueAll();
    this.scheduleResync();
    this.scheduleMarkerCheck();
    this.vendorHealth?.start();
  }

  enqueueAll(): void {
    for (const inf of this.policyInformers) for (const p of inf.list()) this.queue.add(objectKey(p.metadata));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.vendorHealth?.stop();
    for (const t of [this.resyncTimer, this.syncTimer, this.markerTimer]) if (t !== null) this.clock.clearTimeout(t);
    this.resyncTimer = null;
    this.syncTimer = null;
    this.markerTimer = null;
    this.queue.shutDown();
    for (const inf of this.allInformers()) inf.stop();
    await Promise.all(this.workersRunning);
    this.workersRunning = [];
  }

  private allInformers(): Array<Informer<PolicyObject> | Informer<WorkloadObject> | Informer<PodObject>> {
    return [...this.policyInformers, ...this.workloads.Deployment.values(), ...this.workloads.StatefulSet.values(), ...this.podInformers];
  }

  private policyInformer(ns: string): Informer<PolicyObject> | undefined {
    if (this.policyInformers.length === 1) return this.policyInformers[0];
    const i = (this.opts.namespaces ?? []).indexOf(ns);
    return i >= 0 ? this.policyInformers[i] : undefined;
  }

  private policiesForTarget(t: TargetRef): PolicyObject[] {
    const keys = this.index.get(targetIndexKey(t)) ?? new Set<string>();
    const out: PolicyObject[] = [];
    for (const key of keys) {
      const [ns, name] = key.split('/') as [string, string];
      const p = this.policyInformer(ns)?.get(ns, name);
      if (p) out.push(p);
    }
    return out;
  }

  private policyChanged(old: PolicyObject | undefined, cur: PolicyObject | undefined): void {
    const obj = (cur ?? old) as PolicyObject;
    const key = objectKey(obj.metadata);
    const before = old && targetOf(old);
    const after = cur && targetOf(cur);
    if (before) this.index.get(targetIndexKey(before))?.delete(key);
    if (after) {
      const k = targetIndexKey(after);
      if (!this.index.has(k)) this.index.set(k, new Set());
      this.index.get(k)?.add(key);
    }
    // Our own status writes come back as updates with the same generation, and our own
    // finalizer being added as a finalizer change that still has ours: nothing to do (the
    // reconcile that added it carries on). A finalizer change while deleting, or ours removed
    // by someone else, is worth a reconcile.
    const finalizersChanged = (old?.metadata.finalizers ?? []).join() !== (cur?.metadata.finalizers ?? []).join();
    const meaningful =
      !old ||
      !cur ||
      old.metadata.generation !== cur.metadata.generation ||
      old.metadata.deletionTimestamp !== cur.metadata.deletionTimestamp ||
      (finalizersChanged && (cur.metadata.deletionTimestamp !== undefined || !(cur.metadata.finalizers ?? []).includes(FINALIZER)));
    if (!meaningful) return;
    this.queue.add(key);
    // The others naming the same targets may win or lose a conflict now.
    for (const t of [before, after]) {
      if (!t) continue;
      for (const other of this.index.get(targetIndexKey(t)) ?? []) this.queue.add(other);
    }
  }

  private workloadChanged(w: WorkloadObject): void {
    const keys = this.index.get(targetIndexKey({ namespace: w.metadata.namespace, kind: w.kind, name: w.metadata.name }));
    for (const key of keys ?? []) this.queue.add(key);
  }

  /** Keeps the namespace index; enqueues the policies whose target selects the pod (before or after). */
  private podChanged(old: PodObject | undefined, cur: PodObject | undefined): void {
    const pod = (cur ?? old) as PodObject;
    const ns = pod.metadata.namespace;
    let inNs = this.podsByNamespace.get(ns);
    if (cur) {
      if (!inNs) this.podsByNamespace.set(ns, (inNs = new Map()));
      inNs.set(pod.metadata.name, cur);
    } else if (inNs) {
      inNs.delete(pod.metadata.name);
      if (inNs.size === 0) this.podsByNamespace.delete(ns);
    }
    // Most pod updates (status heartbeats, IPs) cannot change anyone's protection.
    if (!protectionChanged(old, cur)) return;
    for (const [targetKey, keys] of this.index) {
      if (keys.size === 0 || !targetKey.startsWith(`${ns}/`)) continue;
      const [, kind, name] = targetKey.split('/') as [string, WorkloadKind, string];
      const selector = this.workloadInformer(kind, ns)?.get(ns, name)?.selector;
      if (!selector) continue;
      if (!(old && selectorMatches(selector, old.labels)) && !(cur && selectorMatches(selector, cur.labels))) continue;
      for (const key of keys) this.queue.add(key);
    }
  }

  private workloadInformer(kind: WorkloadKind, ns: string): Informer<WorkloadObject> | undefined {
    return this.workloads[kind].get(ns) ?? this.workloads[kind].get(undefined);
  }

  private scheduleResync(): void {
    const ms = this.opts.resyncMs ?? 300_000;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.enqueueAll();
      this.scheduleResync();
    }, ms);
  }

  private scheduleMarkerCheck(): void {
    const ms = this.opts.dataLossCheckMs ?? 2000;
    if (ms === 0 || this.stopped) return;
    this.markerTimer = this.clock.setTimeout(() => {
      this.markerTimer = null;
      this.opts.publisher
        .checkMarker()
        .then((missing) => {
          if (!missing) return;
          this.log.warn('Redis holds no marker (new or emptied): republishing every policy');
          this.enqueueAll();
        })
        // Redis away: RedisUnavailable is reported by the reconciles; check again next time.
        .catch(() => {})
        .finally(() => this.scheduleMarkerCheck());
    }, ms);
  }

  private async worker(): Promise<void> {
    const m = this.opts.metrics;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = m.reconcileDuration.startTimer();
      try {
        const outcome = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        m.reconcileTotal.inc({ result: outcome });
      } catch (err) {
        if (err instanceof NotLeaderError) {
          this.queue.forget(key);
        } else {
          m.reconcileErrors.inc();
          m.reconcileTotal.inc({ result: 'error' });
          this.reconcileLog.warn('reconcile failed; retrying with backoff', { key, retry: this.queue.numRequeues(key) + 1, err });
          this.queue.addRateLimited(key);
        }
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}

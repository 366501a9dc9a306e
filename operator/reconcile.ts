/**
 * The level-based reconcile of one TrafficPolicy: read it and its target's ready replicas,
 * validate, compile, publish, write status. Whatever happened before, the same inputs lead to
 * the same Redis document and status, so a retry or a resync is always safe.
 */
import { compile, type CompiledBody } from '../api/compile.js';
import type { TrafficPolicyStatus } from '../api/policy.js';
import { parsePolicy } from '../api/validate.js';
import type { Logger } from '../lib/log.js';
import { isStatus, objectKey, type KubeApi, type PodObject, type PolicyObject, type WorkloadKind, type WorkloadObject } from './kube-api.js';
import { protectedCondition, readyPods } from './protection.js';
import type { ConfigPublisher } from './publisher.js';
import { ACCEPTED, PROGRAMMED, PROTECTED, setCondition, statusEqual, statusEvents, type ConditionInput, type StatusEvent } from './status.js';
import { failoverMessage, type StatusRoute, type VendorHealthTracker } from './vendor-health.js';

type Cond = Omit<ConditionInput, 'type'>;

export const FINALIZER = 'spillway.io/config';

export interface TargetRef {
  namespace: string;
  kind: WorkloadKind;
  name: string;
}

/** `ns/Kind/name`: the index key of a workload. */
export function targetIndexKey(t: TargetRef): string {
  return `${t.namespace}/${t.kind}/${t.name}`;
}

/** The target a policy names, read leniently (before validation) so conflicts see every policy. */
export function targetOf(p: PolicyObject): TargetRef | undefined {
  const ref = (p.spec as { targetRef?: { kind?: unknown; name?: unknown } } | undefined)?.targetRef;
  if (!ref || typeof ref.name !== 'string' || ref.name === '') return undefined;
  const kind = ref.kind === 'StatefulSet' ? 'StatefulSet' : 'Deployment';
  return { namespace: p.metadata.namespace, kind, name: ref.name };
}

/** Who governs a target when several policies name it: the oldest, then by name. */
export function olderFirst(a: PolicyObject, b: PolicyObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return Date.parse(ta) - Date.parse(tb) || (ta < tb ? -1 : 1);
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

export interface ReconcilerDeps {
  kube: Pick<KubeApi, 'patchPolicyStatus' | 'setPolicyFinalizers' | 'createEvent'>;
  publisher: ConfigPublisher;
  getPolicy(namespace: string, name: string): PolicyObject | undefined;
  getWorkload(kind: WorkloadKind, namespace: string, name: string): WorkloadObject | undefined;
  /** Every policy (deleting or not) whose targetRef names this workload. */
  policiesForTarget(target: TargetRef): PolicyObject[];
  /** False once leadership is lost: no write may happen after that. */
  canWrite?: () => boolean;
  now?: () => Date;
  log?: Logger;
  onPublished?: () => void;
  /** The cluster-wide vendor choices (absent: routes are left to each sidecar). */
  vendorHealth?: VendorHealthTracker;
  onVendorFailover?: (route: string) => void;
  /** Per-workload Redis ACL users and their Secrets (absent: sidecars share one Redis login). */
  workloadUsers?: { ensure(workload: string): Promise<void>; remove(workload: string): Promise<void> };
  /** The pods of a namespace (absent: protection is not reported). */
  podsIn?(namespace: string): Iterable<PodObject>;
  /** The policy's count of unprotected ready pods; undefined when it reports none (no target, a lost conflict, gone). */
  onProtection?: (policyKey: string, unprotected: number | undefined) => void;
}

type StatusFields = Partial<Pick<TrafficPolicyStatus, 'configVersion' | 'readyReplicas' | 'classes' | 'publishedTarget' | 'routes' | 'unprotectedReplicas'>>;

interface Conds {
  accepted: Cond;
  programmed: Cond;
  /** The Protected condition; absent: left as it was. */
  protection?: Cond;
}

export type ReconcileOutcome = 'published' | 'unchanged' | 'invalid' | 'conflict' | 'target-not-found' | 'deleted' | 'gone';

/** A failure that was reported in status and must be retried with backoff. */
export class RetryableError extends Error {}

export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: write skipped');
  }
}

export class Reconciler {
  /**
   * The status last written per policy, with the resourceVersion it was computed from: while
   * the informer still shows that version, our write is newer than its copy.
   */
  private readonly written = new Map<string, { basedOn: string | undefined; status: TrafficPolicyStatus }>();
  /** Which target each policy last published to, so a retarget or delete removes the old key. */
  private readonly published = new Map<string, string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string): Promise<ReconcileOutcome> {
    try {
      return await this.reconcileOnce(key);
    } catch (err) {
      // Deleted while we worked (the cache lags the server): nothing left to do.
      if (isStatus(err, 404)) return 'gone';
      throw err;
    }
  }

  private async reconcileOnce(key: string): Promise<ReconcileOutcome> {
    const [namespace, name] = splitKey(key);
    let policy = this.deps.getPolicy(namespace, name);
    if (!policy) {
      this.written.delete(key);
      this.deps.vendorHealth?.forget(key);
      this.deps.onProtection?.(key, undefined);
      return 'gone';
    }
    if (policy.metadata.deletionTimestamp) return this.finalize(policy);

    if (!(policy.metadata.finalizers ?? []).includes(FINALIZER)) {
      this.guard();
      policy = await this.deps.kube.setPolicyFinalizers(
        namespace,
        name,
        [...(policy.metadata.finalizers ?? []), FINALIZER],
        policy.metadata.resourceVersion ?? '',
      );
    }

    const parsed = parsePolicy(policy);
    if (!parsed.ok) {
      // The sidecars still enforce the last good config: whether the pods run them still matters.
      const lenient = targetOf(policy);
      const p = this.protection(key, lenient && this.deps.getWorkload(lenient.kind, lenient.namespace, lenient.name));
      await this.writeStatus(policy, {
        accepted: { status: 'False', reason: 'Invalid', message: parsed.error },
        programmed: { status: 'False', reason: 'Invalid', message: this.keptMessage(policy) },
        protection: p?.cond,
      }, p?.fields);
      return 'invalid';
    }

    const target = targetOf(policy) as TargetRef;
    const winner = this.deps
      .policiesForTarget(target)
      .filter((p) => !p.metadata.deletionTimestamp)
      .sort(olderFirst)[0];
    if (winner && objectKey(winner.metadata) !== key) {
      this.deps.onProtection?.(key, undefined);
      const message = `${target.kind} ${target.name} is already governed by TrafficPolicy ${winner.metadata.name}`;
      const fields = await this.unpublishElsewhere(policy, undefined);
      await this.writeStatus(policy, {
        accepted: { status: 'False', reason: 'Conflict', message },
        programmed: { status: 'False', reason: 'Conflict', message: 'nothing published for this policy' },
      }, fields);
      return 'conflict';
    }

    const accepted: Cond = { status: 'True', reason: 'Accepted', message: 'the policy is valid' };
    const workload = this.deps.getWorkload(target.kind, target.namespace, target.name);
    const protection = this.protection(key, workload);
    if (!workload) {
      const fields = await this.unpublishElsewhere(policy, undefined);
      await this.writeStatus(policy, {
        accepted,
        programmed: { status: 'False', reason: 'TargetNotFound', message: `${target.kind} ${target.namespace}/${target.name} not found` },
      }, fields);
      // The workload's Redis user and Secret before its pods exist, so they start with Redis.
      if (this.deps.workloadUsers) {
        this.guard();
        await this.deps.workloadUsers.ensure(`${target.namespace}/${target.name}`);
      }
      return 'target-not-found';
    }

    const prev = this.currentStatus(policy);
    // The vendors the pods follow: the tracker's latest choice, else what status says was
    // published (an operator restart must not drop the choice and republish).
    const activeVendors = { ...publishedChoices(prev), ...this.deps.vendorHealth?.activeVendors(key) };
    // Divided over the larger of the workload's count and the ready pods with the sidecar seen in
    // the pod cache: the two are updated by different watches, and taking the larger means a pod
    // counted by one and not yet by the other can only make the per-pod sum fall short, never exceed.
    const divisor = Math.max(workload.readyReplicas, protection?.readyPods.length ?? 0);
    const body = compile(parsed.value, divisor, { activeVendors, readyPods: protection?.readyPods });
    let result;
    try {
      this.guard();
      await this.unpublishElsewhere(policy, body.target);
      await this.deps.workloadUsers?.ensure(body.target);
      result = await this.deps.publisher.publish(body, prev?.configVersion ?? 0);
    } catch (err) {
      if (err instanceof NotLeaderError) throw err;
      const message = `Redis unavailable: ${err instanceof Error ? err.message : String(err)}`;
      await this.writeStatus(policy, { accepted, programmed: { status: 'False', reason: 'RedisUnavailable', message }, protection: protection?.cond }, {
        readyReplicas: workload.readyReplicas,
        ...protection?.fields,
      });
      throw new RetryableError(message, { cause: err });
    }
    this.published.set(key, body.target);
    this.deps.vendorHealth?.published(key, body);
    if (result.changed) {
      this.deps.onPublished?.();
      this.deps.log?.info('config published', { key, target: result.key, version: result.version });
    }
    const routes = this.statusRoutes(key, body, prev);
    await this.writeStatus(
      policy,
      {
        accepted,
        programmed: {
          status: 'True',
          reason: 'Programmed',
          message: `config version ${result.version} published to ${result.key}${divisionNotes(body, protection?.readyPods.length ?? 0)}`,
        },
        protection: protection?.cond,
      },
      {
        ...protection?.fields,
        configVersion: result.version,
        readyReplicas: body.readyReplicas,
        classes: body.classes.map((c) => ({
          name: c.name,
          podLimit: c.limit,
          ...(c.shadow === true ? { mode: 'Shadow' as const } : {}),
          ...(c.adaptive !== undefined ? { adaptive: true } : {}),
        })),
        publishedTarget: body.target,
        routes: routes.length || prev?.routes?.length ? routes : undefined,
      },
    );
    for (const e of this.failoverEvents(key, body, prev)) await this.emit(policy, e);
    return result.changed ? 'published' : 'unchanged';
  }

  /**
   * The Protected condition and status.unprotectedReplicas of a policy governing `workload`,
   * and the names of its ready pods that run the sidecar (the candidates for a Cluster
   * remainder); undefined, and the metric dropped, without a workload or a pod informer.
   */
  private protection(key: string, workload: WorkloadObject | undefined): { cond: Cond; fields: StatusFields; readyPods: string[] } | undefined {
    if (!workload || !this.deps.podsIn) {
      this.deps.onProtection?.(key, undefined);
      return undefined;
    }
    const pods = readyPods(this.deps.podsIn(workload.metadata.namespace), workload.selector);
    const names = pods.unprotected;
    this.deps.onProtection?.(key, names.length);
    return {
      cond: protectedCondition(names, `${workload.kind} ${workload.metadata.name}`),
      fields: { unprotectedReplicas: names.length },
      readyPods: pods.protected,
    };
  }

  /** status.routes: the published active vendor and, once pods reported, their health. */
  private statusRoutes(key: string, body: CompiledBody, prev: TrafficPolicyStatus | undefined): StatusRoute[] {
    const out: StatusRoute[] = [];
    for (const r of body.routes) {
      if (r.activeVendor === '') continue;
      const vendors = this.deps.vendorHealth?.statusVendors(key, r.name) ?? prev?.routes?.find((x) => x.name === r.name)?.vendors;
      out.push(vendors ? { name: r.name, activeVendor: r.activeVendor, vendors } : { name: r.name, activeVendor: r.activeVendor });
    }
    return out;
  }

  /** A VendorFailover event per route whose published vendor moved from one vendor to another. */
  private failoverEvents(key: string, body: CompiledBody, prev: TrafficPolicyStatus | undefined): StatusEvent[] {
    const out: StatusEvent[] = [];
    for (const r of body.routes) {
      const from = prev?.routes?.find((x) => x.name === r.name)?.activeVendor;
      if (!from || !r.activeVendor || from === r.activeVendor) continue;
      this.deps.onVendorFailover?.(r.name);
      const message = failoverMessage(r, from, r.activeVendor, this.deps.vendorHealth?.health(key, r.name));
      this.deps.log?.info('vendor failover', { key, route: r.name, from, to: r.activeVendor, detail: message });
      const h = this.deps.vendorHealth?.health(key, r.name);
      out.push({ type: h?.reason === 'recovered' || h?.reason === 'pin' ? 'Normal' : 'Warning', reason: 'VendorFailover', message });
    }
    return out;
  }

  /** Deletion: remove the config this policy owns (sidecars fall back to their default), then the finalizer. */
  private async finalize(policy: PolicyObject): Promise<ReconcileOutcome> {
    const key = objectKey(policy.metadata);
    const finalizers = policy.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return 'gone';
    this.guard();
    const targets = new Set<string>();
    const t = targetOf(policy);
    if (t) targets.add(`${t.namespace}/${t.name}`);
    const last = this.lastPublished(policy);
    if (last) targets.add(last);
    for (const target of targets) await this.removeConfig(target, key);
    this.published.delete(key);
    this.written.delete(key);
    this.deps.vendorHealth?.forget(key);
    this.deps.onProtection?.(key, undefined);
    await this.deps.kube.setPolicyFinalizers(
      policy.metadata.namespace,
      policy.metadata.name,
      finalizers.filter((f) => f !== FINALIZER),
      policy.metadata.resourceVersion ?? '',
    );
    this.deps.log?.info('policy deleted: config removed', { key });
    return 'deleted';
  }

  /**
   * Removes the target's config if this policy owns it, and the target's Redis user and Secret
   * unless another policy governs (or is about to govern) the same workload: its running pods
   * hold that password (read from the Secret at start), so it must survive the handover. The
   * user goes even when nothing was published (a policy whose target never appeared made one).
   */
  private async removeConfig(target: string, policyKey: string): Promise<void> {
    await this.deps.publisher.remove(target, policyKey);
    if (this.governedByAnother(target, policyKey)) return;
    await this.deps.workloadUsers?.remove(target);
  }

  private governedByAnother(target: string, policyKey: string): boolean {
    const [namespace, name] = splitKey(target);
    return (['Deployment', 'StatefulSet'] as const).some((kind) =>
      this.deps.policiesForTarget({ namespace, kind, name }).some((p) => !p.metadata.deletionTimestamp && objectKey(p.metadata) !== policyKey),
    );
  }

  /**
   * The target this policy last wrote: remembered in memory, and in status.publishedTarget so
   * that a retarget or delete after an operator restart still finds the old key.
   */
  private lastPublished(policy: PolicyObject): string | undefined {
    return this.published.get(objectKey(policy.metadata)) ?? (this.currentStatus(policy)?.publishedTarget || undefined);
  }

  /**
   * Removes what this policy published under another target than `keep` (a retarget, a lost
   * conflict, a vanished target); returns the status fields recording that nothing is left there.
   */
  private async unpublishElsewhere(policy: PolicyObject, keep: string | undefined): Promise<StatusFields> {
    const key = objectKey(policy.metadata);
    const last = this.lastPublished(policy);
    if (last === undefined || last === keep) return {};
    this.guard();
    await this.removeConfig(last, key);
    this.published.delete(key);
    if (keep === undefined) this.deps.vendorHealth?.forget(key);
    return { publishedTarget: '' };
  }

  private async writeStatus(policy: PolicyObject, conds: Conds, fields: StatusFields = {}): Promise<void> {
    const key = objectKey(policy.metadata);
    const prev = this.currentStatus(policy);
    const now = this.deps.now?.() ?? new Date();
    const generation = policy.metadata.generation;
    let conditions = setCondition(prev?.conditions, { type: ACCEPTED, ...conds.accepted }, generation, now);
    conditions = setCondition(conditions, { type: PROGRAMMED, ...conds.programmed }, generation, now);
    if (conds.protection) conditions = setCondition(conditions, { type: PROTECTED, ...conds.protection }, generation, now);
    const next: TrafficPolicyStatus = { ...prev, ...fields, conditions };
    if (generation !== undefined) next.observedGeneration = generation;
    if (statusEqual(prev, next)) return;
    this.guard();
    await this.deps.kube.patchPolicyStatus(policy.metadata.namespace, policy.metadata.name, next);
    this.written.set(key, { basedOn: policy.metadata.resourceVersion, status: next });
    for (const e of statusEvents(prev, next)) await this.emit(policy, e);
  }

  private async emit(policy: PolicyObject, e: StatusEvent): Promise<void> {
    try {
      await this.deps.kube.createEvent({ namespace: policy.metadata.namespace, policy, ...e });
    } catch (err) {
      this.deps.log?.warn('event not recorded', { key: objectKey(policy.metadata), reason: e.reason, err });
    }
  }

  private currentStatus(policy: PolicyObject): TrafficPolicyStatus | undefined {
    const mine = this.written.get(objectKey(policy.metadata));
    return mine && mine.basedOn === policy.metadata.resourceVersion ? mine.status : policy.status;
  }

  private keptMessage(policy: PolicyObject): string {
    const version = this.currentStatus(policy)?.configVersion;
    return version === undefined ? 'nothing published' : `config version ${version} stays in force`;
  }

  private guard(): void {
    if (this.deps.canWrite && !this.deps.canWrite()) throw new NotLeaderError();
  }
}

/**
 * What the Programmed message adds when a Cluster budget is not divided exactly: a limit below
 * the ready replicas (each pod still enforces 1, refusing everything on some pods being worse),
 * or a remainder list cut short by the config's caps (the pods left out enforce the base limit).
 */
export function divisionNotes(body: CompiledBody, readyPods: number): string {
  const notes: string[] = [];
  for (const c of body.classes) {
    if (c.scope === 'Cluster' && c.policyLimit < body.readyReplicas) {
      notes.push(`class ${c.name}: limit ${c.policyLimit} is below the ${body.readyReplicas} ready replicas, so each pod enforces 1 (${body.readyReplicas} in all)`);
    }
  }
  const due = Math.min(readyPods, Math.max(0, ...body.classes.map((c) => c.extra)));
  const listed = body.extraPods?.length ?? 0;
  if (listed < due) notes.push(`only ${listed} of the ${due} pods due a Cluster remainder are listed (the config's size caps): the others enforce the base limit`);
  return notes.length > 0 ? `; ${notes.join('; ')}` : '';
}

/** Route → vendor as the policy's status says it was published. */
function publishedChoices(status: TrafficPolicyStatus | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of status?.routes ?? []) if (r.activeVendor) out[r.name] = r.activeVendor;
  return out;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

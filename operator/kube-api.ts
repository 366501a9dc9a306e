/**
 * The operator's view of the Kubernetes API: a small interface of our own, so the controller
 * logic is tested against a fake while `kube.ts` (the only importer of
 * `@kubernetes/client-node`) implements it against a real API server.
 */
import type { TrafficPolicyStatus } from '../api/policy.js';

export interface ObjectMeta {
  name: string;
  namespace: string;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}

/** A TrafficPolicy as the API server returns it: not yet validated. */
export interface PolicyObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta & Record<string, unknown>;
  spec?: unknown;
  status?: TrafficPolicyStatus;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet';

/** A Kubernetes label selector (matchLabels and matchExpressions, ANDed). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** Only what the operator needs of a Deployment or StatefulSet. */
export interface WorkloadObject {
  kind: WorkloadKind;
  metadata: ObjectMeta;
  readyReplicas: number;
  /** spec.selector: which pods are the workload's. */
  selector?: LabelSelector;
}

/** Only what the operator needs of a Pod (the informer caches nothing else). */
export interface PodObject {
  metadata: ObjectMeta;
  labels: Record<string, string>;
  /** Condition Ready is True and the pod is not terminating. */
  ready: boolean;
  /** It carries the Spillway sidecar container (operator/webhook.ts SIDECAR_NAME). */
  sidecar: boolean;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface WatchHandle {
  stop(): void;
}

/** List and watch one resource type, in one namespace or (namespace undefined) in all. */
export interface ListWatch<T> {
  list(namespace: string | undefined): Promise<ListResult<T>>;
  /**
   * Streams events after `resourceVersion`. `onDone` is called once when the stream ends: with
   * null when the server closed it, with a KubeError of status 410 when the version expired.
   */
  watch(
    namespace: string | undefined,
    resourceVersion: string,
    onEvent: (e: WatchEvent<T>) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
}

export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Milliseconds since the epoch; 0 when unset. */
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
  resourceVersion?: string;
}

export interface EventInput {
  namespace: string;
  /** The involved TrafficPolicy. */
  policy: PolicyObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface KubeApi {
  policies: ListWatch<PolicyObject>;
  deployments: ListWatch<WorkloadObject>;
  statefulSets: ListWatch<WorkloadObject>;
  pods: ListWatch<PodObject>;
  /** Merge-patches the status subresource. */
  patchPolicyStatus(namespace: string, name: string, status: TrafficPolicyStatus): Promise<void>;
  /** Sets metadata.finalizers, guarded by resourceVersion (409 when the object changed meanwhile). */
  setPolicyFinalizers(namespace: string, name: string, finalizers: string[], resourceVersion: string): Promise<PolicyObject>;
  createEvent(event: EventInput): Promise<void>;
  getLease(namespace: string, name: string): Promise<LeaseRecord | null>;
  createLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces the lease, guarded by lease.resourceVersion (409 on a lost race). */
  replaceLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord>;
}

/** A Secret's data, decoded (the API's base64 is the client's business). */
export interface SecretRecord {
  data: Record<string, string>;
  resourceVersion?: string;
}

/** The Secrets holding each workload's Redis credentials (operator/workload-users.ts). */
export interface SecretApi {
  getSecret(namespace: string, name: string): Promise<SecretRecord | null>;
  /** 409 when it exists already. */
  createSecret(namespace: string, name: string, data: Record<string, string>): Promise<SecretRecord>;
  /** Guarded by secret.resourceVersion (409 on a lost race). */
  replaceSecret(namespace: string, name: string, secret: SecretRecord): Promise<SecretRecord>;
  /** Resolves false when it was already gone. */
  deleteSecret(namespace: string, name: string): Promise<boolean>;
}

/** What the sidecar-injection webhook's self-signed TLS needs (operator/webhook-tls.ts). */
export interface WebhookKubeApi {
  getSecret(namespace: string, name: string): Promise<SecretRecord | null>;
  /** 409 when another replica created it first. */
  createSecret(namespace: string, name: string, data: Record<string, string>): Promise<SecretRecord>;
  /** Guarded by secret.resourceVersion (409 on a lost race). */
  replaceSecret(namespace: string, name: string, secret: SecretRecord): Promise<SecretRecord>;
  /**
   * Sets clientConfig.caBundle (base64 PEM) on every webhook of the MutatingWebhookConfiguration
   * that does not already carry it; resolves true when something was patched.
   */
  patchWebhookCaBundle(name: string, caBundle: string): Promise<boolean>;
}

/** An API error with its HTTP status (404 not found, 409 conflict, 410 gone, ...). */
export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export function isStatus(err: unknown, status: number): boolean {
  return err instanceof KubeError && err.status === status;
}

export function objectKey(meta: { namespace: string; name: string }): string {
  return `${meta.namespace}/${meta.name}`;
}

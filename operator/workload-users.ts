/**
 * One Redis ACL user per protected workload (api/redis-acl.ts), and its credentials in a Secret
 * in the workload's namespace that the injected sidecar reads SPILLWAY_REDIS from. The password
 * is made once (crypto.randomBytes) and kept in the Secret; every reconcile sets the user again
 * from it, so a Redis that lost its ACLs (a restart, a failover to a node that never had them)
 * gets them back with the next reconcile, and sidecars keep their credentials.
 */
import { randomBytes } from 'node:crypto';
import { aclUserName, workloadAclRules, workloadSecretName, WORKLOAD_SECRET_KEYS } from '../api/redis-acl.js';
import { withCredentials } from '../lib/redis-url.js';
import type { SecretApi } from './kube-api.js';

export interface AclStore {
  readonly cluster: boolean;
  setAclUser(user: string, rules: readonly string[]): Promise<void>;
  deleteAclUser(user: string): Promise<void>;
}

/** 32 random bytes, base64url: 43 characters, no character that needs encoding in a URL. */
const PASSWORD = /^[A-Za-z0-9_-]{43}$/;

export class WorkloadUsers {
  /**
   * sidecarUrl: how sidecars reach Redis (no credentials; e.g. the bundled Redis's Service by
   * its cluster DNS name); each workload's Secret holds it with the workload's credentials.
   */
  constructor(
    private readonly kube: SecretApi,
    private readonly redis: AclStore,
    private readonly sidecarUrl: string,
  ) {
    withCredentials(sidecarUrl, 'x', 'x');
  }

  /** The workload (`<ns>/<target>`) has its user and its Secret, with the same password. */
  async ensure(workload: string): Promise<void> {
    const [ns, target] = split(workload);
    const name = workloadSecretName(target);
    const user = aclUserName(workload);
    const existing = await this.kube.getSecret(ns, name);
    const kept = existing?.data[WORKLOAD_SECRET_KEYS.password];
    const password = kept !== undefined && PASSWORD.test(kept) ? kept : randomBytes(32).toString('base64url');
    const data = {
      [WORKLOAD_SECRET_KEYS.url]: withCredentials(this.sidecarUrl, user, password),
      [WORKLOAD_SECRET_KEYS.username]: user,
      [WORKLOAD_SECRET_KEYS.password]: password,
    };
    // The user first: a sidecar that reads a new Secret can log in at once.
    await this.redis.setAclUser(user, workloadAclRules(workload, password, this.redis.cluster));
    if (!existing) await this.kube.createSecret(ns, name, data);
    else if (!sameData(existing.data, data)) await this.kube.replaceSecret(ns, name, { data, resourceVersion: existing.resourceVersion });
  }

  /** The policy is gone: its user is deleted (Redis drops its connections) and so is the Secret. */
  async remove(workload: string): Promise<void> {
    const [ns, target] = split(workload);
    await this.redis.deleteAclUser(aclUserName(workload));
    await this.kube.deleteSecret(ns, workloadSecretName(target));
  }
}

function split(workload: string): [string, string] {
  const i = workload.indexOf('/');
  return [workload.slice(0, i), workload.slice(i + 1)];
}

function sameData(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

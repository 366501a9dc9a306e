/**
 * Least privilege in Redis, per workload: the ACL user the operator keeps for each protected
 * workload (`<ns>/<target>`), the Secret in the workload's namespace that holds its URL, and the
 * rules that confine it to its own keys. Pure: the operator applies them (operator/workload-users.ts),
 * the webhook names the Secret (operator/webhook.ts), and the sidecar's keys follow the same names.
 *
 * The user may read only its own config key, subscribe only to the config channel, read and
 * write only its own dedup keys, write (not read) only its own vendor-health hashes, and run
 * only the commands the sidecar sends (sidecar/config/redis-source.ts, sidecar/egress/dedup.ts,
 * sidecar/egress/health-report.ts, plus what ioredis sends on connect). `%R~`/`%W~` need Redis 7.
 */
import { createHash } from 'node:crypto';
import { CONFIG_CHANNEL, configKey } from './config.js';
import { VENDOR_HEALTH_PREFIX } from './vendor-health.js';

export const DEDUP_KEY_PREFIX = 'spillway:dedup:';

/** `spillway:dedup:<ns>/<target>:`: every dedup key of one workload starts with it. */
export function dedupPrefix(workload: string): string {
  return `${DEDUP_KEY_PREFIX}${workload}:`;
}

/** Keys of the data in the Secret the operator writes for a workload. */
export const WORKLOAD_SECRET_KEYS = { url: 'url', username: 'username', password: 'password' } as const;

const MAX_USER_LENGTH = 128;
const MAX_SECRET_NAME_LENGTH = 253;

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * `spillway.<ns>.<target>`: a namespace has no dots, so the first two dots split it back
 * (collision-free, unlike `-`). Longer than 128 characters: `spillway.<sha256 of ns/target>`,
 * which has one dot only and so never equals a short name. The operator's own user (no dot) is
 * never one of these.
 */
export function aclUserName(workload: string): string {
  const [ns, target] = splitWorkload(workload);
  const name = `spillway.${ns}.${target}`;
  return name.length <= MAX_USER_LENGTH ? name : `spillway.${sha256(workload)}`;
}

/** The Secret, in the workload's own namespace, whose `url` the injected sidecar reads. */
export function workloadSecretName(target: string): string {
  const name = `spillway-redis-${target}`;
  return name.length <= MAX_SECRET_NAME_LENGTH ? name : `spillway-redis-${sha256(target)}`;
}

/**
 * What the sidecar runs: the config read (INFO for run_id, MULTI TYPE STRLEN GETRANGE EXEC,
 * SUBSCRIBE), the dedup claim (EVAL of SET NX PX + GET), its completion (SET EX), release (DEL)
 * and peek (GET), the vendor-health report (HSET + PEXPIRE), and on connect AUTH/HELLO/PING,
 * SELECT (a /db in the URL), CLIENT SETNAME, and in Cluster mode CLUSTER SLOTS/KEYSLOT.
 */
export const SIDECAR_COMMANDS = [
  'auth', 'hello', 'ping', 'select', 'client|setname', 'info', 'quit',
  'multi', 'exec', 'discard', 'type', 'strlen', 'getrange', 'get',
  'subscribe', 'unsubscribe',
  'eval', 'evalsha', 'set', 'del',
  'hset', 'pexpire',
  'cluster|slots', 'cluster|keyslot',
] as const;

/** The rules after `ACL SETUSER <user>`, password included (`reset` first: nothing else survives). */
export function workloadAclRules(workload: string, password: string, cluster: boolean): string[] {
  splitWorkload(workload);
  return [
    'reset',
    'on',
    `>${password}`,
    `&${CONFIG_CHANNEL}`,
    `%R~${configKey(workload, cluster)}`,
    `~${dedupPrefix(workload)}*`,
    `%W~${VENDOR_HEALTH_PREFIX}${workload}:*`,
    ...SIDECAR_COMMANDS.map((c) => `+${c}`),
  ];
}

const NS = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const TARGET = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `<ns>/<target>`, strictly: the names end up in ACL patterns, where `*?[]\` would be globs. */
function splitWorkload(workload: string): [string, string] {
  const i = workload.indexOf('/');
  const ns = workload.slice(0, i);
  const target = workload.slice(i + 1);
  if (i < 0 || !NS.test(ns) || !TARGET.test(target)) throw new Error(`not <namespace>/<target>: ${JSON.stringify(workload)}`);
  return [ns, target];
}

/**
 * Publishes compiled configs to Redis and reads the sidecars' vendor health reports (the
 * operator's only Redis module). Each write and its
 * `PUBLISH spillway:config <ns>/<target>` happen in one Lua script, so a sidecar woken by the
 * message always reads the new document. The version lives in a counter key that is never
 * deleted, so it keeps growing across a delete and re-create of the policy.
 *
 * The URL may name one node, a Sentinel-managed master or a Cluster (lib/redis-url.ts). In
 * Cluster mode the two keys of one script carry the hash tag `{<ns>/<target>}` (api/config.ts).
 */
import { Cluster, Redis } from 'ioredis';
import { CONFIG_CHANNEL, configKey, hashTag } from '../api/config.js';
import { connectSpec, parseRedisUrl } from '../lib/redis-url.js';
import type { CompiledBody } from '../api/compile.js';
import { MAX_REPORT_BYTES, MAX_REPORTS_PER_ROUTE, vendorHealthKey } from '../api/vendor-health.js';
import { silentLogger, type Logger } from '../lib/log.js';
import type { ReportKey, VendorReportReader } from './vendor-health.js';

/**
 * KEYS: one vendor-health hash. ARGV: the longest value returned whole, the most fields returned.
 * Returns {type, {field, value, ...}}. Whatever wrote the hash is not trusted: a value longer
 * than a report can be comes back cut to one byte over the limit (refused as too large without
 * being transferred), a field name is cut to a pod name's length, at most ARGV[2] fields come
 * back, and a key that is not a hash comes back as its type alone (HGETALL would fail the whole
 * round for every workload).
 */
const READ_REPORTS_SCRIPT = `
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'hash' then return {t, {}} end
local maxValue = tonumber(ARGV[1])
local maxFields = tonumber(ARGV[2])
local flat = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, math.min(#flat, 2 * maxFields), 2 do
  out[#out + 1] = string.sub(flat[i], 1, 253)
  out[#out + 1] = string.sub(flat[i + 1], 1, maxValue + 1)
end
return {t, out}
`;

export const VERSION_KEY_PREFIX = 'spillway:config-version:';
/** Set by the operator and never deleted: its absence means Redis lost its data (a FLUSHALL, a restart without persistence). */
export const MARKER_KEY = 'spillway:operator-marker';
/** Cluster mode: node changes within this window cause one re-reconcile. */
const NODE_CHANGE_DEBOUNCE_MS = 1000;

/**
 * KEYS: config key, version key. ARGV: the body's JSON without its opening brace, the channel,
 * the message, the version floor. The stored document is `{"version":N,` + body, so "unchanged"
 * is a string compare. The new version is max(counter, stored version, floor) + 1: the floor
 * (the version the policy's status last reported, which sidecars may have seen) keeps versions
 * growing even after Redis lost its data, since sidecars ignore a version they have already
 * passed.
 */
const PUBLISH_SCRIPT = `
local floor = tonumber(ARGV[4]) or 0
local cur = redis.call('GET', KEYS[1])
local curVersion = 0
if cur then
  curVersion = tonumber(string.match(cur, '^{"version":(%d+),')) or 0
  if curVersion >= floor and string.sub(cur, string.len('{"version":' .. curVersion .. ',') + 1) == ARGV[1] then
    return {0, curVersion}
  end
end
local v = math.max(tonumber(redis.call('GET', KEYS[2])) or 0, curVersion, floor) + 1
redis.call('SET', KEYS[2], v)
redis.call('SET', KEYS[1], '{"version":' .. v .. ',' .. ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {1, v}
`;

/** KEYS: config key. ARGV: owning policy, channel, message. Deletes only the owner's document. */
const REMOVE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, doc = pcall(cjson.decode, cur)
if ok and type(doc) == 'table' and doc.policy ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

export interface PublishResult {
  version: number;
  /** false when the stored body was already this one (nothing written, nothing published). */
  changed: boolean;
  /** The Redis key written (in Cluster mode with its hash tag). */
  key: string;
}

export interface ConfigPublisher extends VendorReportReader {
  /**
   * Writes the body under a version above `floor` (and above anything stored) unless the stored
   * body is already this one at a version ≥ floor.
   */
  publish(body: CompiledBody, floor?: number): Promise<PublishResult>;
  /** Removes the target's config if `policy` (`ns/name`) owns it; true when it was removed. */
  remove(target: string, policy: string): Promise<boolean>;
  /** Sets the marker key; true when it was missing (a new or emptied Redis). */
  checkMarker(): Promise<boolean>;
}

export class RedisPublisher implements ConfigPublisher {
  readonly redis: Redis | Cluster;
  /** Redis Cluster: keys written together carry a hash tag. */
  readonly cluster: boolean;

  private readonly connectWaitMs: number;

  /**
   * onReady: connected (again), or in Cluster mode the set of nodes changed (a failover under
   * way or done): the caller re-reconciles so anything lost with a failed master is written again.
   */
  constructor(url: string, options: { onReady?: () => void; log?: Logger; connectWaitMs?: number } = {}) {
    this.connectWaitMs = options.connectWaitMs ?? 1000;
    const spec = connectSpec(parseRedisUrl(url));
    // Fail fast while Redis is down: the reconciler reports RedisUnavailable and backs off.
    const retry = (times: number) => Math.min(2000, 50 * 2 ** Math.min(times, 6));
    const commands = { maxRetriesPerRequest: 1, commandTimeout: 5000 };
    this.cluster = spec.kind === 'cluster';
    this.redis =
      spec.kind === 'cluster'
        ? new Cluster(spec.nodes, { enableOfflineQueue: false, clusterRetryStrategy: retry, redisOptions: { ...commands, ...spec.redisOptions } })
        : new Redis({ ...commands, enableOfflineQueue: false, retryStrategy: retry, ...spec.options });
    const log = options.log ?? silentLogger;
    // One line per outage, not one per reconnect attempt.
    let lastError = '';
    this.redis.on('error', (err: Error) => {
      if (err.message !== lastError) log.warn('redis unavailable; retrying', { err });
      lastError = err.message;
    });
    this.redis.on('ready', () => {
      if (lastError) log.info('redis connected again');
      lastError = '';
      options.onReady?.();
    });
    if (this.cluster) {
      // While a node is down ioredis drops and re-adds it on every slots refresh: at most one
      // re-reconcile per second, one log line per episode.
      let pending: NodeJS.Timeout | null = null;
      let loggedAt = 0;
      this.redis.on('-node', () => {
        if (pending) return;
        if (Date.now() - loggedAt > 30_000) log.info('a redis cluster node left (a failover?); reconciling every policy');
        loggedAt = Date.now();
        pending = setTimeout(() => {
          pending = null;
          options.onReady?.();
        }, NODE_CHANGE_DEBOUNCE_MS);
        pending.unref();
      });
    }
  }

  async publish(body: CompiledBody, floor = 0): Promise<PublishResult> {
    await this.whenReady();
    const json = JSON.stringify(body);
    const key = configKey(body.target, this.cluster);
    const res = (await this.redis.eval(
      PUBLISH_SCRIPT,
      2,
      key,
      VERSION_KEY_PREFIX + hashTag(body.target, this.cluster),
      json.slice(1),
      CONFIG_CHANNEL,
      body.target,
      String(floor),
    )) as [number, number];
    return { changed: res[0] === 1, version: res[1], key };
  }

  async remove(target: string, policy: string): Promise<boolean> {
    await this.whenReady();
    const res = await this.redis.eval(REMOVE_SCRIPT, 1, configKey(target, this.cluster), policy, CONFIG_CHANNEL, target);
    return res === 1;
  }

  async checkMarker(): Promise<boolean> {
    await this.whenReady();
    return (await this.redis.set(MARKER_KEY, '1', 'NX')) === 'OK';
  }

  /**
   * ACL SETUSER with these rules (api/redis-acl.ts). ACLs are per node and not replicated: in
   * Cluster mode every node gets it; with Sentinel the master only, and the re-reconcile after a
   * failover (onReady) sets it on the promoted master.
   */
  async setAclUser(user: string, rules: readonly string[]): Promise<void> {
    await this.whenReady();
    await Promise.all(this.aclNodes().map((n) => n.call('ACL', 'SETUSER', user, ...rules)));
  }

  /** ACL DELUSER, and any connection it has is closed by Redis. */
  async deleteAclUser(user: string): Promise<void> {
    await this.whenReady();
    await Promise.all(this.aclNodes().map((n) => n.call('ACL', 'DELUSER', user)));
  }

  private aclNodes(): Redis[] {
    return this.redis instanceof Cluster ? this.redis.nodes('all') : [this.redis];
  }

  async readVendorReports(keys: readonly ReportKey[]): Promise<Array<Record<string, string> | null>> {
    await this.whenReady();
    // One single-key script per hash, each its own command: in Cluster mode the hashes live in different slots.
    return Promise.all(
      keys.map(async (k) => {
        const [type, flat] = (await this.redis.eval(READ_REPORTS_SCRIPT, 1, vendorHealthKey(k.target, k.route), MAX_REPORT_BYTES, MAX_REPORTS_PER_ROUTE)) as [string, string[]];
        if (type === 'none') return {};
        if (type !== 'hash') return null;
        const fields: Record<string, string> = {};
        for (let j = 0; j + 1 < flat.length; j += 2) fields[flat[j]] = flat[j + 1];
        return fields;
      }),
    );
  }

  /**
   * Gives a connection still being (re)established a moment (the first connect at start-up,
   * a reconnect under way) before commands fail fast with the offline queue off.
   */
  private async whenReady(): Promise<void> {
    const st = this.redis.status;
    if (st === 'ready' || (st !== 'connecting' && st !== 'connect' && st !== 'wait')) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, this.connectWaitMs);
      this.redis.on('ready', done);
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/**
 * `--redis URL --config-key ns/target`: the operator's compiled config. Reads the key
 * `spillway:config:<ns/target>` on every (re)connect, on every message on `spillway:config`
 * naming our key, and on a slow poll that heals a missed message. The only module that talks
 * to Redis for config.
 *
 * Whatever is in the key is hostile until parsed: it is read in one MULTI as its type, its
 * length and at most MAX_CONFIG_BYTES + 1 bytes, so a huge value is refused without being
 * transferred or parsed; bytes that are not UTF-8 or not JSON are refused before the schema.
 *
 * Redis being down is normal operation here: the store keeps the config in force, reconnects
 * are retried at most every 500 ms (so a config written during an outage applies within a
 * second or so of Redis returning), and only state changes are logged, not every retry.
 *
 * The URL may name one node, a Sentinel-managed master or a Cluster (lib/redis-url.ts). With
 * Sentinel, ioredis asks the Sentinels for the master on every reconnect, so a failover is an
 * outage of a few seconds followed by a 'ready' that reads the key again. In Cluster mode the
 * key carries a hash tag (api/config.ts), ioredis's cluster subscriber moves to another node and
 * resubscribes by itself when its node leaves, and a change of nodes triggers a read.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { CONFIG_CHANNEL, configKey, MAX_CONFIG_BYTES } from '../../api/config.js';
import type { Logger } from '../../lib/log.js';
import { connectSpec, parseRedisUrl, type ConnectSpec } from '../../lib/redis-url.js';
import type { ConfigStore } from './store.js';

export interface RedisSourceOptions {
  url: string;
  /** `ns/target` */
  configKey: string;
  store: ConfigStore;
  log: Logger;
  registry: Registry;
  pollIntervalMs?: number;
  /** run_id of the Redis that served the persisted config applied at start (StateDir.load). */
  persistedRunId?: string | null;
}

const RETRY_CAP_MS = 500;
/** What the key held, as far as we read it. */
type RawValue =
  | { kind: 'absent' }
  | { kind: 'text'; text: string }
  | { kind: 'refused'; reason: 'too-large' | 'wrong-type' | 'not-json'; error: string; marker: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A read that takes this long means a dead link: drop the connection and reconnect. */
const COMMAND_TIMEOUT_MS = 2000;
/** Cluster mode: node changes within this window cause one read (ioredis reports a down node every ~100 ms). */
const NODE_CHANGE_READ_DELAY_MS = 1000;

const retryStrategy = (times: number) => Math.min(50 * times, RETRY_CAP_MS);
const NODE_OPTIONS: RedisOptions = {
  connectTimeout: COMMAND_TIMEOUT_MS,
  keepAlive: 10_000,
  // After close(), a socket that already died would otherwise hold the process for 2 s.
  disconnectTimeout: 200,
};

type Client = Redis | Cluster;

function connect(spec: ConnectSpec, node: RedisOptions, cluster: ClusterOptions = {}): Client {
  return spec.kind === 'cluster'
    ? new Cluster(spec.nodes, { ...cluster, lazyConnect: true, clusterRetryStrategy: retryStrategy, redisOptions: { ...NODE_OPTIONS, ...node, ...spec.redisOptions } })
    : new Redis({ ...NODE_OPTIONS, ...node, ...cluster, lazyConnect: true, retryStrategy, ...spec.options });
}

export class RedisSource {
  private readonly key: string;
  private readonly redisKey: string;
  private readonly store: ConfigStore;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private readonly cmd: Client;
  private readonly sub: Client;
  private readonly cluster: boolean;
  private readonly connected: Gauge;

  private poll: NodeJS.Timeout | null = null;
  private nodeChangeRead: NodeJS.Timeout | null = null;
  /** Cluster mode: the hash slot of our key (constant), once asked. */
  private slot: number | null = null;
  private reading = false;
  private readAgain = false;
  /** The raw value last handled (or a marker of a refused one): a poll that finds the same does nothing. */
  private lastRaw: string | null | undefined = undefined;
  /** A message named our key since the last read: an absent key then is a deliberate deletion. */
  private announced = false;
  /** run_id of the Redis process behind the current connection (null: not asked yet). */
  private runId: string | null = null;
  /** run_id of the Redis process that last had our key. */
  private configRunId: string | null = null;
  private lossLogged = false;
  private up = { cmd: false, sub: false };
  private everUp = false;
  private outageLogged = false;
  private closed = false;

  constructor(options: RedisSourceOptions) {
    const spec = connectSpec(parseRedisUrl(options.url));
    this.cluster = spec.kind === 'cluster';
    this.key = options.configKey;
    this.redisKey = configKey(options.configKey, this.cluster);
    this.store = options.store;
    this.log = options.log;
    this.pollIntervalMs = options.pollIntervalMs ?? 10_000;
    this.configRunId = options.persistedRunId ?? null;
    // Commands fail fast while disconnected (no offline queue): a read is retried on reconnect.
    this.cmd = connect(spec, { commandTimeout: COMMAND_TIMEOUT_MS }, { enableOfflineQueue: false });
    // We subscribe ourselves on every 'ready' (not autoResubscribe) so that we know when the
    // subscription is live and read the key only then: no write can slip between read and subscribe.
    // (Cluster mode: its subscriber connection resubscribes by itself when it moves node.)
    this.sub = connect(spec, { autoResubscribe: false });
    this.connected = new Gauge({
      name: 'spillway_config_redis_connected',
      help: '1 while both config connections to Redis are up.',
      registers: [options.registry],
    });
  }

  /** Connects in the background; never throws or rejects because Redis is unreachable. */
  start(): void {
    for (const [name, conn] of [['cmd', this.cmd], ['sub', this.sub]] as const) {
      conn.on('close', () => this.onDown(name));
      conn.on('error', (err: Error) => this.onError(name, err));
    }
    this.cmd.on('ready', () => this.onUp('cmd'));
    this.sub.on('ready', () => {
      this.sub.subscribe(CONFIG_CHANNEL).then(
        () => this.onUp('sub'),
        // The connection dropped mid-subscribe: the next 'ready' tries again.
        (err: unknown) => this.log.warn('subscribe failed; relying on the poll until the next reconnect', { channel: CONFIG_CHANNEL, err }),
      );
    });
    if (this.cluster) {
      // A node left or joined (a failover): a message may have been missed while the
      // subscriber moved, and the key may now be served by a promoted replica.
      for (const ev of ['+node', '-node']) this.cmd.on(ev, () => this.onNodeChange());
    }
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== CONFIG_CHANNEL || message !== this.key) return;
      this.announced = true;
      this.read();
    });
    // connect() rejects on the first failure; ioredis keeps retrying on its own.
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
    this.poll = setInterval(() => this.read(), this.pollIntervalMs);
  }

  close(): void {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    if (this.nodeChangeRead) clearTimeout(this.nodeChangeRead);
    this.nodeChangeRead = null;
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  isConnected(): boolean {
    return this.up.cmd && this.up.sub;
  }

  private onUp(name: 'cmd' | 'sub'): void {
    this.up[name] = true;
    if (name === 'cmd') this.runId = null;
    if (this.isConnected()) {
      this.connected.set(1);
      if (!this.everUp || this.outageLogged) {
        this.log.info(this.everUp ? 'redis connection restored' : 'redis connected', { key: this.redisKey });
      }
      this.everUp = true;
      this.outageLogged = false;
    }
    // Anything written while we were away (or before the subscription was live) is read now.
    this.read();
  }

  private onNodeChange(): void {
    if (this.nodeChangeRead || this.closed) return;
    this.nodeChangeRead = setTimeout(() => {
      this.nodeChangeRead = null;
      this.read();
    }, NODE_CHANGE_READ_DELAY_MS);
  }

  private onDown(name: 'cmd' | 'sub'): void {
    const wasUp = this.isConnected();
    this.up[name] = false;
    this.connected.set(0);
    if (wasUp && !this.closed) this.logOutage('redis connection lost', undefined);
  }

  private onError(name: 'cmd' | 'sub', err: Error): void {
    if (this.closed) return;
    if (!this.outageLogged && !this.isConnected()) this.logOutage(this.everUp ? 'redis connection lost' : 'redis unreachable', err);
    else this.log.debug('redis error', { connection: name, err });
  }

  private logOutage(msg: string, err: Error | undefined): void {
    if (this.outageLogged) return;
    this.outageLogged = true;
    const inForce = this.store.effective();
    this.log.warn(`${msg}; retrying, the config in force is unchanged`, {
      key: this.redisKey,
      version: inForce ? inForce.config.version : null,
      source: inForce ? inForce.source : null,
      ...(err ? { err } : {}),
    });
  }

  /** Coalesced: at most one GET in flight, and one more after it if asked meanwhile. */
  private read(): void {
    if (this.closed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    if (this.cmd.status !== 'ready') return; // the 'ready' event reads
    this.reading = true;
    const announced = this.announced;
    this.announced = false;
    this.fetch()
      .then(
        ({ raw, runId }) => this.handle(raw, runId, announced),
        (err: unknown) => {
          this.log.debug('config read failed', { key: this.redisKey, err });
          if (err instanceof Error && /timed? ?out/i.test(err.message) && this.cmd.status === 'ready') {
            this.cmd.disconnect(true); // a hung link: reconnect, which reads again
          }
        },
      )
      .catch((err: unknown) => this.log.error('handling the config read failed', { key: this.redisKey, err }))
      .finally(() => {
        this.reading = false;
        if (this.readAgain) {
          this.readAgain = false;
          this.read();
        }
      });
  }

  private async fetch(): Promise<{ raw: RawValue; runId: string }> {
    // In Cluster mode the key's slot may move to another node at any time (a failover): ask the
    // node serving it now, every time ('' when unknown: an unannounced absence then keeps the
    // config in force).
    const runId = this.cmd instanceof Cluster ? await this.slotOwnerRunId(this.cmd) : (this.runId ??= runIdOf(await this.cmd.info('server')));
    const replies = await this.cmd.multi().type(this.redisKey).strlen(this.redisKey).getrangeBuffer(this.redisKey, 0, MAX_CONFIG_BYTES).exec();
    if (!replies) throw new Error('config read aborted');
    const [[, type], [, length], [, bytes]] = replies as [[Error | null, string], [Error | null, number], [Error | null, Buffer]];
    return { raw: rawValue(type, length, bytes), runId };
  }

  private async slotOwnerRunId(cluster: Cluster): Promise<string> {
    this.slot ??= (await cluster.cluster('KEYSLOT', this.redisKey)) as number;
    const owner = cluster.slots[this.slot]?.[0];
    const node = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
    return node ? runIdOf(await node.info('server')) : '';
  }

  private handle(value: RawValue, runId: string, announced: boolean): void {
    if (this.closed) return;
    if (value.kind === 'absent') {
      // Absent on a different Redis process than the one that served our config, and nobody
      // announced a deletion: Redis restarted without its data. Keep enforcing until the
      // operator writes again; only an announced or same-process absence is a deletion.
      if (!announced && this.configRunId !== null && runId !== this.configRunId) {
        if (!this.lossLogged) {
          this.lossLogged = true;
          this.log.warn('config key absent after a Redis restart; keeping the config in force until it is written again', { key: this.redisKey });
        }
        return;
      }
      this.lastRaw = null;
      this.store.remoteAbsent();
      return;
    }
    this.configRunId = runId;
    this.lossLogged = false;
    const raw = value.kind === 'text' ? value.text : value.marker;
    if (raw === this.lastRaw) return;
    this.lastRaw = raw;
    if (value.kind === 'refused') {
      this.store.reject('redis', value.reason, value.error);
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(value.text);
    } catch (err) {
      this.store.reject('redis', 'not-json', `not JSON: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.store.offerRemote(doc, 'redis', runId);
  }
}

/**
 * The key's TYPE, STRLEN and first MAX_CONFIG_BYTES + 1 bytes, judged. A refused value gets a
 * marker that no JSON text can equal (it starts with a NUL), so the same refusal is not counted
 * again on every poll.
 */
function rawValue(type: string, length: number, bytes: Buffer): RawValue {
  if (type === 'none') return { kind: 'absent' };
  if (type !== 'string') return { kind: 'refused', reason: 'wrong-type', error: `the key is a Redis ${type}, not a string`, marker: `\0type:${type}` };
  if (length > MAX_CONFIG_BYTES) {
    return {
      kind: 'refused',
      reason: 'too-large',
      error: `${length} bytes, over the limit of ${MAX_CONFIG_BYTES}; not parsed`,
      marker: `\0size:${length}:${bytes.subarray(0, 64).toString('hex')}`,
    };
  }
  try {
    return { kind: 'text', text: utf8.decode(bytes) };
  } catch {
    return { kind: 'refused', reason: 'not-json', error: 'not JSON: the value is not valid UTF-8', marker: `\0utf8:${bytes.toString('base64')}` };
  }
}

function runIdOf(info: string): string {
  return /run_id:(\w+)/.exec(info)?.[1] ?? '';
}

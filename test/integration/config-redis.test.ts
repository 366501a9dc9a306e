/**
 * --redis/--config-key against a private real redis-server (killed and restarted by the
 * tests), a real state dir, and a fake data plane. The Redis poll is set to a minute so every
 * change below arrives through pub/sub or a reconnect, not the safety-net poll (except in the
 * test of the poll itself).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { CONFIG_CHANNEL, configKey, MAX_CONFIG_BYTES, type CompiledConfig } from '../../api/config.js';
import { FileSource } from '../../sidecar/config/file-source.js';
import { RedisSource } from '../../sidecar/config/redis-source.js';
import { StateDir } from '../../sidecar/config/state-dir.js';
import { ConfigStore } from '../../sidecar/config/store.js';
import { RedisServer } from '../support/redis.js';
import { captureLog } from '../support/log.js';
import { FakeDataPlane, limitOf, metricValue, policyYaml, remoteConfig, sleep, waitFor } from './config-fakes.js';

const KEY = 'talk/chat';
const REDIS_KEY = configKey(KEY);

interface Sidecar {
  plane: FakeDataPlane;
  store: ConfigStore;
  registry: Registry;
  stateDir: StateDir;
  captured: ReturnType<typeof captureLog>;
  close(): void;
}

describe('redis config source', () => {
  let redis: RedisServer;
  let writer: Redis;
  let dir: string;
  const closers: Array<() => void | Promise<void>> = [];

  beforeEach(async () => {
    redis = await RedisServer.start();
    writer = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100, disconnectTimeout: 100 });
    dir = await mkdtemp(join(tmpdir(), 'spillway-redis-'));
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    writer.disconnect();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts the config side of a sidecar the way main.ts does: file, persisted copy, then Redis. */
  async function startSidecar(opts: { url?: string; policyFile?: string; pollIntervalMs?: number } = {}): Promise<Sidecar> {
    const plane = new FakeDataPlane();
    const registry = new Registry();
    const captured = captureLog();
    const stateDir = new StateDir(join(dir, 'state'), KEY, captured.log);
    const store = new ConfigStore({ targets: [plane], registry, log: captured.log, configKey: KEY, persistence: stateDir });
    let file: FileSource | null = null;
    if (opts.policyFile) {
      file = new FileSource({ path: opts.policyFile, store, log: captured.log });
      await file.start();
    }
    const persisted = await stateDir.load();
    if (persisted !== null) store.offerRemote(persisted.config, 'state-dir');
    const source = new RedisSource({ persistedRunId: persisted?.redisRunId, url: opts.url ?? redis.url, configKey: KEY, store, log: captured.log, registry, pollIntervalMs: opts.pollIntervalMs ?? 60_000 });
    source.start();
    const close = () => {
      source.close();
      file?.close();
    };
    closers.push(async () => {
      close();
      await stateDir.flush();
    });
    return { plane, store, registry, stateDir, captured, close };
  }

  async function publish(config: CompiledConfig | string): Promise<void> {
    await writer.set(REDIS_KEY, typeof config === 'string' ? config : JSON.stringify(config));
    await writer.publish(CONFIG_CHANNEL, KEY);
  }

  async function publishBytes(bytes: Buffer): Promise<void> {
    await writer.set(REDIS_KEY, bytes);
    await writer.publish(CONFIG_CHANNEL, KEY);
  }

  async function publishHash(): Promise<void> {
    await writer.del(REDIS_KEY);
    await writer.hset(REDIS_KEY, 'version', '99');
    await writer.publish(CONFIG_CHANNEL, KEY);
  }

  const version = (s: Sidecar) => s.store.effective()?.config.version;

  test('reads the key at start, applies it, and persists it', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(3, 20)));
    const s = await startSidecar();
    await waitFor('version 3 in force', () => version(s) === 3);
    expect(s.store.effective()?.source).toBe('redis');
    expect(limitOf(s.plane.current)).toBe(20);
    await s.stateDir.flush();
    expect(JSON.parse(await readFile(s.stateDir.file, 'utf8'))).toMatchObject({ redisRunId: expect.any(String), config: { version: 3, target: KEY } });
    expect(await metricValue(s.registry, 'spillway_config_applied_total', { source: 'redis' })).toBe(1);
    expect(await metricValue(s.registry, 'spillway_config_version')).toBe(3);
    expect(await metricValue(s.registry, 'spillway_config_redis_connected')).toBe(1);
  });

  test('a newer published version is applied within about a second', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(1)));
    const s = await startSidecar();
    await waitFor('version 1 in force', () => version(s) === 1);
    const t0 = Date.now();
    await publish(remoteConfig(2, 30));
    await waitFor('version 2 in force', () => version(s) === 2, 8000);
    // Typically a few ms. The margin is for a loaded machine; the one-minute poll cannot be what applied it.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(limitOf(s.plane.current)).toBe(30);
  });

  test('older and equal versions are never applied', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(5, 10)));
    const s = await startSidecar();
    await waitFor('version 5 in force', () => version(s) === 5);
    await publish(remoteConfig(4, 40)); // older
    await waitFor('older version noticed', () => s.captured.find('older than one already seen').length === 1);
    await publish(remoteConfig(5, 50)); // equal, different content
    await sleep(500); // nothing observable happens for an equal version; give it time to (not) apply
    expect(s.plane.applied.map((c) => c.version)).toEqual([5]);
    expect(limitOf(s.plane.current)).toBe(10);
    await publish(remoteConfig(6, 60));
    await waitFor('version 6 in force', () => version(s) === 6);
    expect(s.plane.applied.map((c) => c.version)).toEqual([5, 6]);
  });

  test('an invalid document is ignored, named by field and counted', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(1, 10)));
    const s = await startSidecar();
    await waitFor('version 1 in force', () => version(s) === 1);
    const rejections = (reason: string) => waitFor(`a ${reason} rejection`, async () => (await metricValue(s.registry, 'spillway_config_rejected_total', { source: 'redis', reason })) === 1);
    await publish(JSON.stringify({ ...remoteConfig(2), classes: [] }));
    await rejections('invalid');
    await publish('{not json');
    await rejections('not-json');
    await publish(JSON.stringify({ ...remoteConfig(3), target: 'talk/other' }));
    await rejections('wrong-target');
    const errors = s.captured.find('config rejected').map((l) => String(l.error));
    expect(errors[0]).toContain('classes');
    expect(errors[1]).toMatch(/^not JSON/);
    expect(errors[2]).toContain('target');
    expect(s.plane.applied.map((c) => c.version)).toEqual([1]);
    // A valid newer one still gets through afterwards.
    await publish(remoteConfig(4, 44));
    await waitFor('version 4 in force', () => version(s) === 4);
  });

  test('hostile values (not JSON, not UTF-8, wrong shape, 10 MB, version 2^53, a bad extraPods, not a string) are refused with a reason, counted, and the config in force stays', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(5, 50)));
    const s = await startSidecar();
    await waitFor('version 5 in force', () => version(s) === 5);
    const rejected = (reason: string) => metricValue(s.registry, 'spillway_config_rejected_total', { source: 'redis', reason });
    const lastRejection = () => s.captured.find('config rejected').at(-1);

    const hostile: Array<{ what: string; value: () => Promise<void>; reason: string; error: RegExp }> = [
      { what: 'bytes that are not JSON', value: () => publish('\u0000\u0001 not json at all {'), reason: 'not-json', error: /^not JSON/ },
      { what: 'bytes that are not UTF-8', value: () => publishBytes(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), reason: 'not-json', error: /UTF-8/ },
      { what: 'JSON of the wrong shape', value: () => publish(JSON.stringify([remoteConfig(6)])), reason: 'invalid', error: /expected object/ },
      { what: 'a config with a field of the wrong type', value: () => publish(JSON.stringify({ ...remoteConfig(6), classes: 'all' })), reason: 'invalid', error: /^classes/ },
      { what: 'a 10 MB document', value: () => publish(JSON.stringify({ ...remoteConfig(7), padding: 'x'.repeat(10 * 1024 * 1024) })), reason: 'too-large', error: /over the limit of 1048576; not parsed/ },
      { what: 'a version of 2^53', value: () => publish(JSON.stringify(remoteConfig(2 ** 53))), reason: 'invalid', error: /^version/ },
      // A pod naming itself to take a Cluster remainder: not a pod name, or more pods than any remainder.
      { what: 'extraPods holding what is not a pod name', value: () => publish(JSON.stringify({ ...remoteConfig(6), extraPods: ['../../x'] })), reason: 'invalid', error: /^extraPods\[0\]: not a pod name/ },
      { what: 'extraPods longer than any remainder', value: () => publish(JSON.stringify({ ...remoteConfig(6), extraPods: ['pod-0'] })), reason: 'invalid', error: /^extraPods: 1 pods listed, more than the largest extra \(0\)/ },
      { what: 'a key that is not a string', value: () => publishHash(), reason: 'wrong-type', error: /a Redis hash/ },
    ];
    const counts = new Map<string, number>();
    for (const h of hostile) {
      const want = (counts.get(h.reason) ?? 0) + 1;
      counts.set(h.reason, want);
      await h.value();
      await waitFor(`${h.what}: refusal counted`, async () => (await rejected(h.reason)) === want);
      expect(lastRejection()).toMatchObject({ source: 'redis', reason: h.reason, error: expect.stringMatching(h.error), inForce: 5 });
      expect(version(s)).toBe(5);
      expect(limitOf(s.plane.current)).toBe(50);
    }
    expect(s.plane.applied.map((c) => c.version)).toEqual([5]);
    expect(s.plane.clears).toBe(0);
    // Re-reading the same refused value (a poll, a repeated message) does not count it again.
    await writer.publish(CONFIG_CHANNEL, KEY);
    await sleep(300);
    expect(await rejected('wrong-type')).toBe(1);
    // A document just under the limit is read and judged by the schema, not by its size.
    const padded = JSON.stringify({ ...remoteConfig(8), padding: '' });
    await publish(padded.replace('"padding":""', `"padding":"${'x'.repeat(MAX_CONFIG_BYTES - padded.length)}"`));
    await waitFor('the padded document refused by the schema', async () => (await rejected('invalid')) === (counts.get('invalid') ?? 0) + 1);
    expect(lastRejection()?.error).toMatch(/padding/);
    // And a good newer version still gets through.
    await publish(remoteConfig(9, 90));
    await waitFor('version 9 in force', () => version(s) === 9);
  });

  test('key deleted → back to the policy file; recreated → Redis wins again, never below the highest version seen', async () => {
    const policyFile = join(dir, 'policy.yaml');
    await writeFile(policyFile, policyYaml(7));
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(9, 90)));
    const s = await startSidecar({ policyFile });
    await waitFor('redis version 9 in force', () => version(s) === 9);
    expect(s.plane.applied.map((c) => c.version)).toEqual([1, 9]); // file first, then Redis

    await writer.del(REDIS_KEY);
    await writer.publish(CONFIG_CHANNEL, KEY);
    await waitFor('file config back in force', () => s.store.effective()?.source === 'file');
    expect(limitOf(s.plane.current)).toBe(7);
    await s.stateDir.flush();
    await expect(readFile(s.stateDir.file)).rejects.toThrow(/ENOENT/);

    await publish(remoteConfig(8, 80)); // lower than 9: refused even after the deletion
    await publish(remoteConfig(10, 100));
    await waitFor('redis version 10 in force', () => version(s) === 10);
    expect(s.plane.applied.map((c) => c.version)).toEqual([1, 9, 1, 10]);
  });

  test('key deleted and no policy file → unconfigured (clear)', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(2)));
    const s = await startSidecar();
    await waitFor('version 2 in force', () => version(s) === 2);
    await writer.del(REDIS_KEY);
    await writer.publish(CONFIG_CHANNEL, KEY);
    await waitFor('cleared', () => s.plane.clears === 1);
    expect(s.store.effective()).toBeNull();
    expect(await metricValue(s.registry, 'spillway_config_version')).toBe(0);
  });

  test('the slow poll heals a missed message', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(1)));
    const s = await startSidecar({ pollIntervalMs: 300 });
    await waitFor('version 1 in force', () => version(s) === 1);
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(2))); // no PUBLISH
    await waitFor('version 2 in force', () => version(s) === 2, 5000);
  });

  test('Redis killed: the config stays in force; Redis back empty: still in force until a newer version is written', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(1, 10)));
    const s = await startSidecar();
    await waitFor('version 1 in force', () => version(s) === 1);

    await redis.stop();
    await waitFor('outage logged', () => s.captured.find('redis connection lost').length > 0);
    await sleep(1500); // several reconnect attempts
    expect(version(s)).toBe(1);
    expect(s.plane.clears).toBe(0);
    expect(s.plane.applied).toHaveLength(1);
    expect(s.captured.find('redis connection lost')).toHaveLength(1); // state changes, not every retry
    expect(await metricValue(s.registry, 'spillway_config_redis_connected')).toBe(0);

    await redis.start(); // same port, no data: a restart that lost the key is not a deletion
    await waitFor('reconnect logged', () => s.captured.find('redis connection restored').length > 0, 5000);
    await waitFor('data loss noticed', () => s.captured.find('absent after a Redis restart').length > 0, 5000);
    expect(version(s)).toBe(1);
    expect(s.plane.clears).toBe(0);

    const t0 = Date.now();
    await publish(remoteConfig(2, 20));
    await waitFor('version 2 in force', () => version(s) === 2, 8000);
    expect(Date.now() - t0).toBeLessThan(5000); // the resubscribed channel, not the one-minute poll
  });

  test('link down while a newer version is written: applied within 2 s of the link returning', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(1, 10)));
    const link = await TcpLink.start(redis.port);
    closers.push(() => link.close());
    const s = await startSidecar({ url: `redis://127.0.0.1:${link.port}` });
    await waitFor('version 1 in force', () => version(s) === 1);

    await link.cut();
    await waitFor('outage logged', () => s.captured.find('redis connection lost').length > 0);
    await publish(remoteConfig(2, 20)); // the message cannot reach the sidecar
    await sleep(1000);
    expect(version(s)).toBe(1);

    const t0 = Date.now();
    await link.restore();
    await waitFor('version 2 in force', () => version(s) === 2, 8000);
    // Contract: 2 s (typically ~0.5 s: the reconnect backoff is capped at 500 ms). The margin is
    // for a loaded machine; the message was lost and the poll is a minute, so the reconnect read applied it.
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test('restart with Redis down: the persisted config is enforced, then Redis confirms it', async () => {
    await writer.set(REDIS_KEY, JSON.stringify(remoteConfig(4, 40)));
    const first = await startSidecar();
    await waitFor('version 4 in force', () => version(first) === 4);
    await first.stateDir.flush();
    first.close();

    await redis.stop();
    const second = await startSidecar();
    expect(second.store.effective()).toMatchObject({ source: 'state-dir', config: { version: 4 } });
    expect(limitOf(second.plane.current)).toBe(40);
    expect(await metricValue(second.registry, 'spillway_config_applied_total', { source: 'state-dir' })).toBe(1);

    await redis.start(); // empty: the persisted copy was our last word, keep it
    const w = new Redis(redis.url, { disconnectTimeout: 100 });
    closers.push(() => w.disconnect());
    await w.set(REDIS_KEY, JSON.stringify(remoteConfig(4, 40)));
    await w.publish(CONFIG_CHANNEL, KEY);
    await waitFor('confirmed by redis', () => second.store.effective()?.source === 'redis', 5000);
    expect(second.plane.applied.map((c) => c.version)).toEqual([4]); // not re-applied
    await w.set(REDIS_KEY, JSON.stringify(remoteConfig(5, 50)));
    await w.publish(CONFIG_CHANNEL, KEY);
    await waitFor('version 5 in force', () => version(second) === 5, 5000);
  });

  test('a corrupted state file is ignored with a log line', async () => {
    const captured = captureLog();
    const stateDir = new StateDir(join(dir, 'state'), KEY, captured.log);
    await mkdir(stateDir.dir, { recursive: true });
    await writeFile(stateDir.file, '{"config": {"version": 3, "classes": [');
    expect(await stateDir.load()).toBeNull();
    await writeFile(stateDir.file, '[1, 2]');
    expect(await stateDir.load()).toBeNull();
    expect(captured.find('corrupted')).toHaveLength(2);

    await redis.stop();
    const s = await startSidecar();
    expect(s.store.effective()).toBeNull();
    expect(s.plane.applied).toHaveLength(0);
  });
});

/** A TCP relay to Redis that the test can cut (existing connections reset, new ones refused) and restore. */
class TcpLink {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  static async start(target: number): Promise<TcpLink> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const link = new TcpLink(port, target);
    await link.restore();
    return link;
  }

  async restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection({ port: this.target, host: '127.0.0.1' });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }

  async close(): Promise<void> {
    await this.cut();
  }
}

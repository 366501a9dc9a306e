/**
 * The egress and Kafka deferral in the real built CLI: `node bin/spillway.js sidecar` with a
 * policy file whose `push` route has two vendor simulators, dedup, defer and a route limit,
 * plus a private redis-server (dedup claims) and librdkafka's mock cluster (deferral). The relay
 * demo app sends through the sidecar's egress, as in a pod. Every send is accounted for at the
 * end: delivered once, dead-lettered, or refused with a clear status. Needs the build
 * (`npx tsc -p tsconfig.build.json`; `npm test` builds first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRelayApp, type RelayApp } from '../../e2e/apps/relay-app.js';
import { VendorSim } from '../../e2e/apps/vendor-sim.js';
import { startKafkaMock, type KafkaMock } from '../../e2e/kafka-mock/index.js';
import { freePort } from '../support/ports.js';
import { RedisServer } from '../support/redis.js';
import { eventually, request, sleep, type Reply } from './egress-support.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'spillway.js');
const LIMIT = 4;

function policy(a: VendorSim, b: VendorSim): string {
  return `apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: relay, namespace: talk }
spec:
  targetRef: { name: relay }
  routes:
    - name: push
      vendors:
        - { name: a, url: "${a.url}", timeoutMs: 2000 }
        - { name: b, url: "${b.url}", timeoutMs: 2000 }
      failover: { minSuccessRate: 0.9, windowSeconds: 5, minRequests: 10, cooldownSeconds: 3600 }
      dedup: { ttlSeconds: 3600, onRedisDown: refuse }
      defer: { maxAgeSeconds: 600, maxAttempts: 30, drainRatePerSecond: 50 }
      concurrency: { limit: ${LIMIT} }
`;
}

/** Every answer the relay app gave, by idempotency key. */
class Ledger {
  readonly replies = new Map<string, Reply[]>();

  record(key: string, r: Reply): Reply {
    const list = this.replies.get(key) ?? [];
    list.push(r);
    this.replies.set(key, list);
    return r;
  }

  /** Keys that got a 202 (stored in Kafka): each must end delivered or dead-lettered. */
  deferredKeys(): string[] {
    return [...this.replies].filter(([, rs]) => rs.some((r) => r.status === 202)).map(([k]) => k);
  }
}

describe('spillway sidecar egress and deferral (process)', () => {
  let redis: RedisServer;
  let kafka: KafkaMock;
  let a: VendorSim;
  let b: VendorSim;
  let relay: RelayApp;
  let dir: string;
  let child: ChildProcess;
  let exited: Promise<unknown>;
  let stderr = '';
  let adminUrl: string;
  const ledger = new Ledger();

  const notify = async (id: string): Promise<Reply> =>
    ledger.record(
      id,
      await request(relay.port, '/notify', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: `user-${id}`, text: 'hello', id }),
        timeoutMs: 20_000,
      }),
    );
  const deliveries = (key: string): number => a.deliveries(key) + b.deliveries(key);
  const tail = (): string => stderr.slice(-3000);

  const metricSum = async (name: string): Promise<number> => {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };

  /** Every 202 key delivered (or dead-lettered): the drainer is done. */
  const drained = async (): Promise<boolean> => {
    const deferred = ledger.deferredKeys();
    const delivered = deferred.filter((k) => deliveries(k) > 0).length;
    return delivered + (await metricSum('spillway_dead_letter_total')) >= deferred.length;
  };

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'sidecar', 'main.js'))) {
      throw new Error('dist/ is missing: build first with `npx tsc -p tsconfig.build.json` (npm test does)');
    }
    redis = await RedisServer.start();
    kafka = await startKafkaMock({ brokers: 3, topics: ['spillway.deferred.push:2', 'spillway.dead-letter.push:1'] });
    a = await VendorSim.start({ name: 'a' });
    b = await VendorSim.start({ name: 'b' });
    dir = await mkdtemp(join(tmpdir(), 'spillway-egress-proc-'));
    const policyFile = join(dir, 'policy.yaml');
    await writeFile(policyFile, policy(a, b));

    const [listen, admin, egress, upstream] = [await freePort(), await freePort(), await freePort(), await freePort()];
    adminUrl = `http://127.0.0.1:${admin}`;
    // No config under the key in Redis: the policy file is in force; Redis serves dedup claims.
    child = spawn(
      process.execPath,
      [
        BIN, 'sidecar',
        '--listen', String(listen),
        '--admin', String(admin),
        '--egress', String(egress),
        '--host', '127.0.0.1',
        '--upstream', `http://127.0.0.1:${upstream}`,
        '--policy', policyFile,
        '--redis', redis.url,
        '--config-key', 'talk/relay',
        '--kafka', kafka.bootstrap.join(','),
        '--state-dir', join(dir, 'state'),
        '--poll-interval-ms', '1000',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, POD_NAME: 'relay-0' } },
    );
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    exited = once(child, 'exit');
    const ready = await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${tail()}`);
      return fetch(`${adminUrl}/readyz`).then((r) => r.status === 200, () => false);
    }, 30_000, 100);
    if (!ready) throw new Error(`sidecar not ready: ${tail()}`);
    relay = await startRelayApp({ egressUrl: `http://127.0.0.1:${egress}` });
  }, 90_000);

  afterAll(async () => {
    await relay?.close();
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    await a?.close();
    await b?.close();
    await kafka?.stop();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test('sends through the relay app reach vendor A', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await notify(`plain-${i}`);
      expect(r.status).toBe(200);
      expect(r.headers['x-vendor']).toBe('a');
    }
    for (let i = 0; i < 10; i++) expect(a.deliveries(`plain-${i}`)).toBe(1);
    expect(b.stats().received).toBe(0);
  }, 60_000);

  test('the same idempotency key twice, and five at once: one delivery each', async () => {
    expect((await notify('dup-1')).status).toBe(200);
    const again = await notify('dup-1');
    expect(again.status).toBe(200);
    expect(again.headers['x-spillway-duplicate']).toBe('true');

    const storm = await Promise.all(Array.from({ length: 5 }, () => notify('dup-2')));
    expect(storm.filter((r) => r.headers['x-spillway-duplicate'] === undefined)).toHaveLength(1);
    for (const r of storm) expect([200, 409]).toContain(r.status);
    expect(deliveries('dup-1')).toBe(1);
    expect(deliveries('dup-2')).toBe(1);
  }, 60_000);

  test('vendor A browns out: sends move to B, none is lost or sent twice', async () => {
    a.set({ successRate: 0.6 });
    const replies: Reply[] = [];
    for (let i = 0; i < 60; i++) replies.push(await notify(`brownout-${i}`));
    // A failed send on A carries a key, so it is retried on B: every caller got a delivery.
    for (const r of replies) expect(r.status).toBe(200);
    expect(replies.slice(-20).every((r) => r.headers['x-vendor'] === 'b')).toBe(true);
    for (let i = 0; i < 60; i++) expect(deliveries(`brownout-${i}`)).toBe(1);
  }, 90_000);

  test('a storm over the route limit is deferred (202), then drained: each key delivered once', async () => {
    b.set({ latencyMs: 300 });
    const keys = Array.from({ length: 40 }, (_, i) => `storm-${i}`);
    const replies = await Promise.all(keys.map(notify));
    b.set({ latencyMs: 0 });
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(LIMIT);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(20);
    expect(statuses.every((s) => s === 200 || s === 202)).toBe(true);
    for (const r of replies.filter((x) => x.status === 202)) expect(r.headers['x-spillway-deferred']).toBe('true');

    expect(await eventually(drained, 90_000, 250)).toBe(true);
    await sleep(1500); // a late duplicate replay would show up here
    for (const k of keys) expect(deliveries(k)).toBe(1);
    expect(await metricSum('spillway_deferred_total')).toBeGreaterThanOrEqual(20);
  }, 150_000);

  test('Kafka brokers down: shed sends are refused with 503 defer-unavailable, never a 202', async () => {
    await kafka.down(-1);
    let replies: Reply[];
    try {
      b.set({ latencyMs: 300 });
      replies = await Promise.all(Array.from({ length: 20 }, (_, i) => notify(`outage-${i}`)));
      b.set({ latencyMs: 0 });
    } finally {
      await kafka.up(-1);
    }
    expect(replies.filter((r) => r.status === 202)).toEqual([]);
    const refused = replies.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(r.headers['x-spillway-reason']).toBe('defer-unavailable');
    expect(replies.every((r) => r.status === 200 || r.status === 503)).toBe(true);

    // Kafka back: shedding defers again (the producer reconnects), and the drainer catches up.
    let deferred = false;
    for (let round = 0; round < 20 && !deferred; round++) {
      b.set({ latencyMs: 300 });
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => notify(`after-outage-${round}-${i}`)));
      b.set({ latencyMs: 0 });
      deferred = rs.some((r) => r.status === 202);
      if (!deferred) await sleep(1000);
    }
    expect(deferred).toBe(true);
    expect(await eventually(drained, 120_000, 250)).toBe(true);
  }, 240_000);

  test('Redis killed: the route refuses with 503 dedup-unavailable (onRedisDown: refuse)', async () => {
    await redis.stop();
    await sleep(500);
    for (let i = 0; i < 5; i++) {
      const r = await notify(`redis-down-${i}`);
      expect(r.status).toBe(503);
      expect(r.headers['x-spillway-reason']).toBe('dedup-unavailable');
    }
    for (let i = 0; i < 5; i++) expect(deliveries(`redis-down-${i}`)).toBe(0);
  }, 60_000);

  test('every send is accounted for: delivered once + dead-lettered + refused == sent', async () => {
    expect(await eventually(drained, 60_000, 250)).toBe(true);
    const keys = [...ledger.replies.keys()];
    const delivered = keys.filter((k) => deliveries(k) > 0);
    for (const k of delivered) expect(deliveries(k)).toBe(1);
    expect(a.stats().duplicateKeys).toEqual([]);
    expect(b.stats().duplicateKeys).toEqual([]);

    const deferred = new Set(ledger.deferredKeys());
    const deadLettered = await metricSum('spillway_dead_letter_total');
    // Refused: never delivered and never stored; every answer a refusal with its reason.
    const refused = keys.filter((k) => deliveries(k) === 0 && !deferred.has(k));
    for (const k of refused) {
      for (const r of ledger.replies.get(k) ?? []) {
        expect(r.status).toBeGreaterThanOrEqual(500);
        expect(r.headers['x-spillway-reason']).toEqual(expect.any(String));
      }
    }
    // Stored but not delivered can only be dead-lettered.
    expect([...deferred].filter((k) => deliveries(k) === 0).length).toBe(deadLettered);
    expect(delivered.length + deadLettered + refused.length).toBe(keys.length);
    expect(refused.length).toBeGreaterThanOrEqual(5); // the Redis-down sends at least
    // Every 200 the callers saw is a delivery.
    for (const k of keys) if (ledger.replies.get(k)?.some((r) => r.status === 200)) expect(deliveries(k)).toBe(1);
  }, 90_000);

  test('SIGTERM: the sidecar drains, closes the egress and Kafka, and exits 0', async () => {
    process.kill(child.pid ?? -1, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<[null]>((resolve) => (timer = setTimeout(() => resolve([null]), 45_000)));
    const [code] = (await Promise.race([exited, gaveUp])) as [number | null];
    clearTimeout(timer);
    expect({ code, log: code === 0 ? '' : tail() }).toEqual({ code: 0, log: '' });
  }, 60_000);
});

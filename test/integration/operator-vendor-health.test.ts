/**
 * The cluster-wide vendor view: pods' reports (written to Redis the way the sidecars write
 * them) aggregated by the operator into one active vendor per route, published in the config,
 * shown in status, announced by a VendorFailover event. Fake API server, real redis-server.
 */
import { Redis } from 'ioredis';
import { encodeReport, MAX_REPORT_BYTES, vendorHealthKey } from '../../api/vendor-health.js';
import { createLogger } from '../../lib/log.js';
import { Controller } from '../../operator/controller.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { RedisPublisher } from '../../operator/publisher.js';
import { RedisServer } from '../support/redis.js';
import { FakeKube } from '../unit/operator-fakes.js';
import { storedConfig, waitFor } from './operator-support.js';

const spec = (pin = '') => ({
  targetRef: { kind: 'Deployment', name: 'relay' },
  routes: [
    {
      name: 'push',
      pin,
      vendors: [
        { name: 'fcm-a', url: 'http://127.0.0.1:1' },
        { name: 'fcm-b', url: 'http://127.0.0.1:2' },
      ],
      failover: { minSuccessRate: 0.9, windowSeconds: 30, minRequests: 20, cooldownSeconds: 600 },
    },
  ],
});

describe('operator vendor health (fake API server, real Redis)', () => {
  let redis: RedisServer;
  let client: Redis;
  let publisher: RedisPublisher;
  let controller: Controller;
  const metrics = new OperatorMetrics();
  const kube = new FakeKube();
  const logs: string[] = [];

  const stored = () => storedConfig(client, 'talk/relay');
  const report = async (pod: string, a: [number, number], b: [number, number], active = 'fcm-a') => {
    const vendors = { 'fcm-a': { ok: a[0], fail: a[1] }, 'fcm-b': { ok: b[0], fail: b[1] } };
    await client.hset(vendorHealthKey('talk/relay', 'push'), pod, encodeReport({ at: Date.now(), active, vendors }));
  };
  const status = () => kube.getPolicy('talk', 'relay')?.status;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    publisher = new RedisPublisher(redis.url);
    controller = new Controller({ kube, publisher, metrics, workers: 2, vendorHealthIntervalMs: 200, log: createLogger({ write: (line) => logs.push(String((JSON.parse(line) as { msg: unknown }).msg)) }) });
    kube.setWorkload('Deployment', 'talk', 'relay', 2);
    kube.applyPolicy({ name: 'relay', spec: spec() });
    controller.startInformers();
    controller.startWorkers();
  });

  afterAll(async () => {
    await controller.stop();
    await publisher.close();
    client.disconnect();
    await redis.stop();
  });

  it('publishes no choice until pods report, then the workload-wide vendor', async () => {
    const first = await waitFor('config', () => stored());
    expect(first.routes[0].activeVendor).toBe('');
    await new Promise((r) => setTimeout(r, 500));
    expect((await stored())?.version).toBe(first.version);

    await report('relay-0', [50, 0], [0, 0]);
    await report('relay-1', [49, 1], [0, 0]);
    const doc = await waitFor('activeVendor fcm-a', async () => {
      const d = await stored();
      return d?.routes[0].activeVendor === 'fcm-a' ? d : undefined;
    });
    expect(doc.version).toBe(first.version + 1);
    await waitFor('status routes', () => status()?.routes?.[0]?.vendors);
    expect(status()?.routes).toEqual([
      {
        name: 'push',
        activeVendor: 'fcm-a',
        vendors: [
          { name: 'fcm-a', successRate: 0.99, requests: 100 },
          { name: 'fcm-b', requests: 0 },
        ],
      },
    ]);
    expect(kube.events.some((e) => e.reason === 'VendorFailover')).toBe(false);
  });

  it('moves every pod to the next vendor when the summed success rate falls, with an event and a metric', async () => {
    const before = (await stored())?.version ?? 0;
    await report('relay-0', [30, 20], [0, 0]);
    await report('relay-1', [31, 19], [0, 0]);
    const doc = await waitFor('activeVendor fcm-b', async () => {
      const d = await stored();
      return d?.routes[0].activeVendor === 'fcm-b' ? d : undefined;
    });
    expect(doc.version).toBeGreaterThan(before);
    await waitFor('status fcm-b', () => status()?.routes?.[0]?.activeVendor === 'fcm-b');
    expect(status()?.routes?.[0]?.vendors?.[0]).toEqual({ name: 'fcm-a', successRate: 0.61, requests: 100 });
    const ev = await waitFor('event', () => kube.events.find((e) => e.reason === 'VendorFailover'));
    expect(ev).toMatchObject({ type: 'Warning', message: 'route push: fcm-a → fcm-b (success rate 0.61 < 0.90)' });
    const m = await metrics.vendorFailovers.get();
    expect(m.values).toEqual([expect.objectContaining({ labels: { route: 'push' }, value: 1 })]);
  });

  it('keeps the choice while the pods follow it and the health shown is steady', async () => {
    await report('relay-0', [30, 20], [40, 0], 'fcm-b');
    await report('relay-1', [31, 19], [40, 0], 'fcm-b');
    await waitFor('status shows fcm-b traffic', () => status()?.routes?.[0]?.vendors?.[1]?.requests === 80);
    const v = (await stored())?.version;
    const writes = kube.statusWrites.length;
    await new Promise((r) => setTimeout(r, 800));
    expect((await stored())?.version).toBe(v);
    expect(kube.statusWrites.length).toBe(writes);
    expect(kube.events.filter((e) => e.reason === 'VendorFailover')).toHaveLength(1);
  });

  it('malformed reports are ignored with a counted, logged reason and never move the workload', async () => {
    const key = vendorHealthKey('talk/relay', 'push');
    const forged = (vendors: unknown, at: unknown = Date.now()) => JSON.stringify({ at, active: 'fcm-a', vendors });
    // Each would, if counted, push the workload off fcm-b (which the real pods report healthy).
    const hostile: Record<string, string> = {
      'evil-json': '{"at": 1, "vendors": {"fcm-b": {"ok": 0, "fail": 9',
      'evil-shape': JSON.stringify([{ 'fcm-b': { ok: 0, fail: 1000 } }]),
      'evil-huge': forged({ 'fcm-b': { ok: 0, fail: 1000 }, pad: { ok: 0, fail: 0, x: 'x'.repeat(100_000) } }),
      'evil-count': forged({ 'fcm-b': { ok: 0, fail: 1e15 } }),
      'evil-negative': forged({ 'fcm-a': { ok: -1000, fail: 0 }, 'fcm-b': { ok: 0, fail: 1000 } }),
      'evil-nan': forged({ 'fcm-b': { ok: 'NaN', fail: 1000 } }),
      'evil-future': forged({ 'fcm-b': { ok: 0, fail: 1000 } }, Date.now() + 365 * 86_400_000),
    };
    const v = (await stored())?.version;
    const writes = kube.statusWrites.length;
    await client.hset(key, hostile);
    const rejected = async (reason: string) => (await metrics.vendorReportsRejected.get()).values.find((x) => x.labels.reason === reason)?.value ?? 0;
    await waitFor('every reason counted', async () => (await rejected('bad-count')) === 3);
    for (const [reason, n] of Object.entries({ 'not-json': 1, 'wrong-shape': 1, 'too-large': 1, future: 1 })) expect([reason, await rejected(reason)]).toEqual([reason, n]);
    for (const pod of Object.keys(hostile)) expect(logs.some((l) => l.includes(`pod "${pod}"`) && l.includes('ignored'))).toBe(true);

    // Rounds later: still fcm-b, nothing republished, each refusal counted once (not every round).
    await new Promise((r) => setTimeout(r, 800));
    expect((await stored())?.version).toBe(v);
    expect((await stored())?.routes[0].activeVendor).toBe('fcm-b');
    expect(status()?.routes?.[0]).toMatchObject({ activeVendor: 'fcm-b', vendors: [{ name: 'fcm-a', requests: 100 }, { name: 'fcm-b', requests: 80 }] });
    expect(kube.statusWrites.length).toBe(writes);
    expect(await rejected('bad-count')).toBe(3);
    // A huge value is cut in Redis: the operator never receives more than a byte over the limit.
    await client.hset(key, 'evil-huge', 'x'.repeat(10 * 1024 * 1024));
    const [read] = await publisher.readVendorReports([{ target: 'talk/relay', route: 'push' }]);
    expect(read?.['evil-huge']).toHaveLength(MAX_REPORT_BYTES + 1);
    expect(read?.['relay-0']).toContain('fcm-b');
    await client.hdel(key, ...Object.keys(hostile));

    // The key itself replaced by a string: refused for this route, without failing the round.
    await client.del(key);
    await client.set(key, JSON.stringify({ 'relay-0': 'x' }));
    await waitFor('wrong type counted', async () => (await rejected('wrong-type')) === 1);
    expect(logs.some((l) => l.includes('is not a hash') && l.includes('route push'))).toBe(true);
    expect(logs.some((l) => l.includes('cannot read vendor reports'))).toBe(false);
    expect((await stored())?.routes[0].activeVendor).toBe('fcm-b');
    await client.del(key);
    await report('relay-0', [30, 20], [40, 0], 'fcm-b');
    await report('relay-1', [31, 19], [40, 0], 'fcm-b');
  });

  it('a restarted operator keeps the published choice (no republish, no event)', async () => {
    await controller.stop();
    const v = (await stored())?.version;
    const events = kube.events.length;
    const again = new Controller({ kube, publisher, metrics: new OperatorMetrics(), workers: 1, vendorHealthIntervalMs: 200 });
    again.startInformers();
    again.startWorkers();
    try {
      await new Promise((r) => setTimeout(r, 1000));
      expect((await stored())?.version).toBe(v);
      expect((await stored())?.routes[0].activeVendor).toBe('fcm-b');
      expect(kube.events.slice(events).filter((e) => e.reason === 'VendorFailover')).toEqual([]);
    } finally {
      await again.stop();
    }
    controller = new Controller({ kube, publisher, metrics, workers: 2, vendorHealthIntervalMs: 200 });
    controller.startInformers();
    controller.startWorkers();
  });

  it('pin wins over health', async () => {
    kube.applyPolicy({ name: 'relay', spec: spec('fcm-a') });
    await waitFor('pinned fcm-a', async () => (await stored())?.routes[0].activeVendor === 'fcm-a');
    const ev = await waitFor('event', () => kube.events.filter((e) => e.reason === 'VendorFailover')[1]);
    expect(ev).toMatchObject({ type: 'Normal', message: 'route push: fcm-b → fcm-a (pinned)' });
  });
});

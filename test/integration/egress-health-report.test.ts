/**
 * The cluster-wide view, sidecar side: two egress "pods" report their vendor windows to Redis,
 * api/vendor-health aggregates them into one choice, and a config carrying that choice moves
 * both pods to the same vendor.
 */
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { aggregateRoute, vendorHealthKey } from '../../api/vendor-health.js';
import { VendorSim } from '../../e2e/apps/vendor-sim.js';
import { Egress } from '../../sidecar/egress/index.js';
import { RedisServer } from '../support/redis.js';
import { configWithRoutes, eventually, openLoop, request } from './egress-support.js';

describe('egress vendor-health reports', () => {
  let redis: RedisServer;
  let client: Redis;
  let a: VendorSim;
  let b: VendorSim;
  const pods: Egress[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url);
    a = await VendorSim.start({ name: 'a' });
    b = await VendorSim.start({ name: 'b' });
    for (const podName of ['relay-0', 'relay-1']) {
      pods.push(await Egress.start({ port: 0, registry: new Registry(), podName, redisUrl: redis.url, configKey: 'talk/relay', loadLevel: () => 0 }));
    }
  });

  afterAll(async () => {
    for (const p of pods) await p.close();
    client.disconnect();
    await a.close();
    await b.close();
    await redis.stop();
  });

  const routes = () => [
    {
      name: 'push',
      vendors: [
        { name: 'a', url: a.url, timeoutMs: 1000 },
        { name: 'b', url: b.url, timeoutMs: 1000 },
      ],
      // Each pod alone stays under minRequests; only the workload as a whole sees the brownout.
      failover: { minSuccessRate: 0.9, windowSeconds: 30, minRequests: 30, cooldownSeconds: 60 },
    },
  ];

  it('reports per-pod windows that aggregate into one workload-wide choice, which both pods follow', async () => {
    const cfg = configWithRoutes(routes());
    for (const p of pods) p.apply(cfg);
    a.set({ successRate: 0.5 });
    // 20 unkeyed POSTs per pod (not retried): 10 ok, 10 failed each, below minRequests per pod.
    await openLoop(40, 5, (i) => request(pods[i % 2].port, '/push/send', { body: 'x' }));
    for (const p of pods) expect(p.state().routes[0].activeVendor).toBe('a');

    const key = vendorHealthKey('talk/relay', 'push');
    const reported = await eventually(async () => {
      const f = await client.hgetall(key);
      const h = aggregateRoute(cfg.routes[0], f, { activeVendor: 'a', sinceMs: 0 }, Date.now());
      return h.pods === 2 && h.vendors[0].requests === 40;
    }, 6000, 200);
    expect(reported).toBe(true);
    expect(await client.pttl(key)).toBeGreaterThan(0);

    const health = aggregateRoute(cfg.routes[0], await client.hgetall(key), { activeVendor: 'a', sinceMs: 0 }, Date.now());
    expect(health).toMatchObject({ activeVendor: 'b', changed: true, reason: 'failing', pods: 2 });
    expect(health.vendors[0]).toMatchObject({ name: 'a', ok: 20, fail: 20, successRate: 0.5 });

    // The operator publishes its choice; both pods follow it.
    const chosen = configWithRoutes(routes(), { push: health.activeVendor });
    for (const p of pods) p.apply(chosen);
    for (const p of pods) expect(p.state().routes[0].activeVendor).toBe('b');
    b.reset();
    for (let i = 0; i < 6; i++) expect((await request(pods[i % 2].port, '/push/send', { body: 'x' })).headers['x-vendor']).toBe('b');
    expect(b.stats().delivered).toBe(6);
  }, 20_000);
});

/**
 * Duplicate suppression against a private redis-server: duplicate storms, a key that spans a
 * failover, release after a total failure, and Redis killed mid-run for both onRedisDown modes.
 */
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { VendorSim } from '../../e2e/apps/vendor-sim.js';
import { Egress } from '../../sidecar/egress/index.js';
import { RedisServer } from '../support/redis.js';
import { configWithRoutes, eventually, request, type Reply } from './egress-support.js';

describe('egress dedup', () => {
  let redis: RedisServer;
  let a: VendorSim;
  let b: VendorSim;
  let egress: Egress;
  let registry: Registry;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await redis.stop();
  });

  beforeEach(async () => {
    await redis.start();
    a = await VendorSim.start({ name: 'a' });
    b = await VendorSim.start({ name: 'b' });
    registry = new Registry();
    egress = await Egress.start({ port: 0, registry, podName: 'relay-0', redisUrl: redis.url, configKey: 'talk/relay', loadLevel: () => 0 });
    egress.apply(
      configWithRoutes([
        {
          name: 'push',
          vendors: [
            { name: 'a', url: a.url, timeoutMs: 400 },
            { name: 'b', url: b.url, timeoutMs: 400 },
          ],
          failover: { minSuccessRate: 0.9, windowSeconds: 5, minRequests: 20, cooldownSeconds: 60 },
          dedup: { ttlSeconds: 60, onRedisDown: 'refuse' },
        },
        {
          name: 'lenient',
          vendors: [{ name: 'a', url: a.url, timeoutMs: 400 }],
          dedup: { header: 'X-Msg-Id', ttlSeconds: 60, onRedisDown: 'send' },
        },
      ]),
    );
  });

  afterEach(async () => {
    await egress.close();
    await a.close();
    await b.close();
  });

  const send = (key: string, route = 'push', header = 'idempotency-key') =>
    request(egress.port, `/${route}/v1/send`, { headers: { [header]: key }, body: 'hello' });
  const deliveries = (key: string) => a.deliveries(key) + b.deliveries(key);

  it('a storm of 5 concurrent sends with one key delivers once; the rest are marked duplicates', async () => {
    a.set({ latencyMs: 200 });
    const replies = await Promise.all(Array.from({ length: 5 }, () => send('storm-1')));
    expect(deliveries('storm-1')).toBe(1);
    const first = replies.filter((r) => r.headers['x-spillway-duplicate'] === undefined);
    const dups = replies.filter((r) => r.headers['x-spillway-duplicate'] === 'true');
    expect(first).toHaveLength(1);
    expect(first[0].status).toBe(200);
    expect(dups).toHaveLength(4);
    for (const d of dups) expect([200, 409]).toContain(d.status);
    // Later repeats get the first answer's status, and are not sent.
    const again = await send('storm-1');
    expect(again.status).toBe(200);
    expect(again.headers['x-spillway-duplicate']).toBe('true');
    expect(deliveries('storm-1')).toBe(1);
    expect(await registry.metrics()).toContain('spillway_dedup_suppressed_total{route="push"} 5');
  });

  it('many storms at once: exactly one delivery per key', async () => {
    a.set({ latencyMs: 50 });
    const keys = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    await Promise.all(keys.flatMap((k) => Array.from({ length: 5 }, () => send(k))));
    for (const k of keys) expect(deliveries(k)).toBe(1);
  });

  it('a key spans failover: failed on A, delivered by B, never repeated through either', async () => {
    a.set({ hang: true });
    const r = await send('fo-1');
    expect(r.status).toBe(200);
    expect(r.headers['x-vendor']).toBe('b');
    // The caller retries (it may not have seen the answer), and A is back: still one delivery.
    a.set({ hang: false });
    const retries = await Promise.all(Array.from({ length: 4 }, () => send('fo-1')));
    for (const x of retries) expect(x.headers['x-spillway-duplicate']).toBe('true');
    expect(a.deliveries('fo-1')).toBe(0);
    expect(b.deliveries('fo-1')).toBe(1);
  });

  it('a send that failed on every vendor frees its key, so the caller may retry', async () => {
    a.set({ successRate: 0 });
    b.set({ successRate: 0 });
    const r = await send('all-fail');
    expect(r.status).toBe(500);
    expect(r.headers['x-spillway-duplicate']).toBeUndefined();
    a.set({ successRate: 1 });
    b.set({ successRate: 1 });
    const retry = await send('all-fail');
    expect(retry.status).toBe(200);
    expect(retry.headers['x-spillway-duplicate']).toBeUndefined();
    expect(deliveries('all-fail')).toBe(1);
  });

  it('stores the claim in Redis with the TTL', async () => {
    await send('ttl-1');
    const client = new Redis(redis.url);
    try {
      expect(JSON.parse((await client.get('spillway:dedup:talk/relay:push:ttl-1')) ?? '{}')).toEqual({ state: 'done', status: 200 });
      const ttl = await client.ttl('spillway:dedup:talk/relay:push:ttl-1');
      expect(ttl).toBeGreaterThan(50);
      expect(ttl).toBeLessThanOrEqual(60);
    } finally {
      client.disconnect();
    }
  });

  it('a delivery finished while Redis is away is recorded once Redis is back', async () => {
    a.set({ latencyMs: 300 });
    const sending = send('mid-outage');
    await new Promise((r) => setTimeout(r, 100));
    await redis.stop(); // claimed, then Redis dies while the vendor works
    const r = await sending;
    expect(r.status).toBe(200);
    await new Promise((r) => setTimeout(r, 700));
    await redis.start(); // an empty Redis: the claim is gone, the rewrite restores it
    const client = new Redis(redis.url);
    try {
      expect(await eventually(async () => (await client.get('spillway:dedup:talk/relay:push:mid-outage').catch(() => null)) !== null, 8000, 200)).toBe(true);
    } finally {
      client.disconnect();
    }
    a.set({ latencyMs: 0 });
    const again = await send('mid-outage');
    expect(again.headers['x-spillway-duplicate']).toBe('true');
    expect(deliveries('mid-outage')).toBe(1);
  }, 20_000);

  it('Redis killed: onRedisDown refuse answers 503 dedup-unavailable fast; send sends and counts it', async () => {
    expect((await send('before-outage')).status).toBe(200);
    await redis.stop();
    const refused: Reply[] = [];
    for (let i = 0; i < 5; i++) refused.push(await send(`outage-${i}`));
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.headers['x-spillway-reason']).toBe('dedup-unavailable');
      expect(r.headers['x-spillway-class']).toBe('push');
      expect(r.ms).toBeLessThan(1500); // a short command timeout, not a hang
    }
    for (let i = 0; i < 5; i++) expect(deliveries(`outage-${i}`)).toBe(0);

    const sent: Reply[] = [];
    for (let i = 0; i < 5; i++) sent.push(await send(`lenient-${i}`, 'lenient', 'x-msg-id'));
    for (const r of sent) {
      expect(r.status).toBe(200);
      expect(r.ms).toBeLessThan(1500);
    }
    expect(await registry.metrics()).toContain('spillway_dedup_bypassed_total{route="lenient"} 5');

    // Redis back: suppression resumes (the egress reconnects on its own).
    await redis.start();
    const healed = await eventually(async () => (await send('after-outage')).status === 200, 10_000, 200);
    expect(healed).toBe(true);
    const dup = await send('after-outage');
    expect(dup.headers['x-spillway-duplicate']).toBe('true');
    expect(deliveries('after-outage')).toBe(1);
  }, 30_000);
});

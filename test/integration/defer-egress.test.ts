/**
 * Deferral end to end in one process: the real egress sheds sends under a high load level to
 * the real Kafka deferrer (librdkafka's mock cluster), answers 202 only for stored sends, and
 * once the load level is back to 0 the drainer replays them through the egress's failover and
 * dedup to a vendor simulator: one delivery per idempotency key, even for a key sent twice.
 * With every broker down, a shed send is answered 503 defer-unavailable, never 202.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import { VendorSim } from '../../e2e/apps/vendor-sim.js';
import { startKafkaMock, type KafkaMock } from '../../e2e/kafka-mock/index.js';
import { createKafkaDeferrer, type KafkaDeferrer } from '../../sidecar/egress/defer.js';
import { Egress } from '../../sidecar/egress/index.js';
import { quietLog, sleep, waitFor } from './defer-support.js';
import { configWithRoutes, request } from './egress-support.js';

let mock: KafkaMock;
let vendor: VendorSim;
let deferrer: KafkaDeferrer;
let egress: Egress;
let level = 2;
const registry = new Registry();

beforeAll(async () => {
  mock = await startKafkaMock({ brokers: 3, topics: ['spillway.deferred.push:2', 'spillway.dead-letter.push:1'] });
  vendor = await VendorSim.start({ name: 'a' });
  const config = configWithRoutes([
    {
      name: 'push',
      vendors: [{ name: 'a', url: vendor.url, timeoutMs: 1000 }],
      shedAtLevel: 1,
      dedup: {},
      defer: { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 20 },
    },
  ]);
  deferrer = createKafkaDeferrer({
    brokers: mock.bootstrap,
    clientId: 'relay-0',
    groupId: 'spillway-drainer-talk/relay',
    routes: config.routes,
    registry,
    log: quietLog,
    sessionTimeoutMs: 6000,
  });
  egress = await Egress.start({ port: 0, registry, podName: 'relay-0', deferrer, loadLevel: () => level });
  // What the sidecar does on each config apply.
  egress.apply(config);
  deferrer.updateRoutes(config.routes);
}, 60_000);

afterAll(async () => {
  await egress?.close();
  await deferrer?.close();
  await vendor?.close();
  await mock?.stop();
}, 60_000);

const send = (key: string) =>
  request(egress.port, '/push/v1/send', { headers: { 'idempotency-key': key, 'content-type': 'application/json' }, body: `{"k":"${key}"}` });

test('shed under a storm: 202 for stored sends, replayed after it, one delivery per key', async () => {
  const keys = Array.from({ length: 20 }, (_, i) => `e2e-${i}`);
  const replies = await Promise.all([...keys, 'e2e-0'].map(send)); // e2e-0 twice: a client retry
  for (const r of replies) {
    expect(r.status).toBe(202);
    expect(r.headers['x-spillway-deferred']).toBe('true');
  }
  await sleep(6000); // the drainer has joined by now and must hold still while the level is up
  expect(vendor.stats().received).toBe(0);

  level = 0;
  expect(await waitFor(() => vendor.deliveredKeys().size >= keys.length, 60_000)).toBe(true);
  await sleep(1500);
  expect([...vendor.deliveredKeys().keys()].sort()).toEqual([...keys].sort());
  expect(vendor.stats().duplicateKeys).toEqual([]);
  const body = vendor.requests().find((r) => r.key === 'e2e-3');
  expect(body?.method).toBe('POST');
  expect(body?.url).toBe('/v1/send');
}, 120_000);

test('kafka-outage at the egress: a shed send is refused with 503 defer-unavailable, never a 202', async () => {
  level = 2;
  await mock.down(-1);
  try {
    const r = await send('outage-1');
    expect(r.status).toBe(503);
    expect(r.headers['x-spillway-reason']).toBe('defer-unavailable');
    expect(r.headers['x-spillway-deferred']).toBeUndefined();
  } finally {
    await mock.up(-1);
  }
  // Kafka back: shedding defers again.
  let status = 0;
  for (let i = 0; i < 20 && status !== 202; i++) {
    status = (await send(`outage-after-${i}`)).status;
    if (status !== 202) await sleep(500);
  }
  expect(status).toBe(202);
}, 120_000);

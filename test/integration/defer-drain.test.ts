/**
 * Deferral against the real Kafka protocol (librdkafka's mock cluster): sends deferred during a
 * storm are not replayed while the load level is up, then replayed exactly once each at the
 * route's bounded rate; expired and exhausted sends end in the dead-letter topic with a reason.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import { startKafkaMock, type KafkaMock } from '../../e2e/kafka-mock/index.js';
import type { DeferredSend, ReplayOutcome } from '../../sidecar/egress/contracts.js';
import { createKafkaDeferrer, type KafkaDeferrer } from '../../sidecar/egress/defer.js';
import { encodeSend, MAX_DEFERRED_BODY } from '../../sidecar/egress/defer-record.js';
import { createKafkaLink, type OutRecord } from '../../sidecar/egress/kafka.js';
import { quietLog, readTopic, sendFor, sleep, waitFor } from './defer-support.js';

let mock: KafkaMock;
const open: KafkaDeferrer[] = [];

beforeAll(async () => {
  const routes = ['storm', 'expiry', 'exhaust', 'first', 'late', 'burst', 'hostile'];
  mock = await startKafkaMock({
    brokers: 3,
    topics: routes.flatMap((r) => [`spillway.deferred.${r}:2`, `spillway.dead-letter.${r}:1`]),
  });
}, 120000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
}, 120000);

afterAll(async () => {
  await mock?.stop();
}, 120000);

function deferrer(route: string, defer: { maxAgeSeconds: number; maxAttempts: number; drainRatePerSecond: number }, registry = new Registry()) {
  const d = createKafkaDeferrer({
    brokers: mock.bootstrap,
    clientId: 'defer-test',
    groupId: `spillway-drainer-test/${route}`,
    routes: [{ name: route, defer }],
    registry,
    log: quietLog,
    sessionTimeoutMs: 6000,
  });
  open.push(d);
  return d;
}

/** A replay fake standing in for the egress (dedup + failover): records every key and when. */
function recorder(outcome: (send: DeferredSend) => ReplayOutcome = () => 'delivered') {
  const calls: Array<{ key: string; at: number; attempts: number }> = [];
  const replay = async (send: DeferredSend): Promise<ReplayOutcome> => {
    calls.push({ key: send.key, at: Date.now(), attempts: send.attempts });
    return outcome(send);
  };
  return { calls, replay };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return Number(v?.value ?? 0);
}

test('sends deferred under a storm are replayed only after it, exactly once each, at the bounded rate', async () => {
  const registry = new Registry();
  const settings = { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 20 };
  const d = deferrer('storm', settings, registry);
  const keys = Array.from({ length: 30 }, (_, i) => `storm-${i}`);
  for (const k of keys) await d.defer(sendFor('storm', k));
  expect(await metric(registry, 'spillway_deferred_total', { route: 'storm' })).toBe(30);

  let storm = true;
  const rec = recorder();
  d.startDrainer(rec.replay, () => !storm);
  await sleep(6000); // the group join takes ~3 s on the mock; then the drainer must hold still
  expect(rec.calls).toHaveLength(0);

  storm = false;
  expect(await waitFor(() => rec.calls.length >= keys.length, 30_000)).toBe(true);
  await sleep(1500); // nothing more may come
  expect(rec.calls.map((c) => c.key).sort()).toEqual([...keys].sort());
  // 30 replays at 20/s need at least 29/20 s; allow generous slack below, none above matters.
  const span = rec.calls[rec.calls.length - 1].at - rec.calls[0].at;
  expect(span).toBeGreaterThanOrEqual(1000);
  expect(await metric(registry, 'spillway_drained_total', { route: 'storm', result: 'delivered' })).toBe(30);

  // Offsets were committed: a new drainer in the same group replays nothing again.
  await d.close();
  const again = recorder();
  const d2 = deferrer('storm', settings);
  await d2.defer(sendFor('storm', 'storm-marker'));
  d2.startDrainer(again.replay, () => true);
  // The marker shows the new drainer is consuming; nothing before it may come again.
  expect(await waitFor(() => again.calls.length >= 1, 30_000)).toBe(true);
  await sleep(1000);
  expect(again.calls.map((c) => c.key)).toEqual(['storm-marker']);
}, 120000);

test('an expired send goes to the dead-letter topic with reason expired, and is not replayed', async () => {
  const registry = new Registry();
  const d = deferrer('expiry', { maxAgeSeconds: 60, maxAttempts: 5, drainRatePerSecond: 50 }, registry);
  await d.defer(sendFor('expiry', 'old-1', Date.now() - 120_000));
  await d.defer(sendFor('expiry', 'fresh-1'));
  const rec = recorder();
  d.startDrainer(rec.replay, () => true);
  expect(await waitFor(() => rec.calls.length >= 1, 30_000)).toBe(true);

  const dead = await readTopic(mock.bootstrap, 'spillway.dead-letter.expiry', 1, 30_000);
  expect(dead.map((r) => [r.key, r.headers.reason])).toEqual([['old-1', 'expired']]);
  expect(dead[0].headers.route).toBe('expiry');
  expect(JSON.parse(dead[0].value.toString())).toEqual({ key: 'old-1' });
  expect(rec.calls.map((c) => c.key)).toEqual(['fresh-1']);
  expect(await metric(registry, 'spillway_dead_letter_total', { route: 'expiry', reason: 'expired' })).toBe(1);
}, 120000);

test('a send that keeps needing a retry is re-queued, then dead-lettered when out of attempts; a failed one at once', async () => {
  const registry = new Registry();
  const d = deferrer('exhaust', { maxAgeSeconds: 600, maxAttempts: 2, drainRatePerSecond: 50 }, registry);
  await d.defer(sendFor('exhaust', 'flaky-1'));
  await d.defer(sendFor('exhaust', 'bad-1'));
  const rec = recorder((s) => (s.key === 'bad-1' ? 'failed' : 'retry'));
  d.startDrainer(rec.replay, () => true);

  const dead = await readTopic(mock.bootstrap, 'spillway.dead-letter.exhaust', 2, 40_000);
  const reasons = Object.fromEntries(dead.map((r) => [r.key, r.headers.reason]));
  expect(reasons).toEqual({ 'flaky-1': 'attempts-exhausted', 'bad-1': 'failed' });
  expect(dead.find((r) => r.key === 'flaky-1')?.headers.attempts).toBe('2');
  // Replayed once per attempt, the second after the backoff; never again once dead-lettered.
  await sleep(1500);
  const flaky = rec.calls.filter((c) => c.key === 'flaky-1');
  expect(flaky.map((c) => c.attempts)).toEqual([0, 1]);
  expect(flaky[1].at - flaky[0].at).toBeGreaterThanOrEqual(900);
  expect(rec.calls.filter((c) => c.key === 'bad-1')).toHaveLength(1);
  expect(await metric(registry, 'spillway_dead_letter_total', { route: 'exhaust', reason: 'attempts-exhausted' })).toBe(1);
  expect(await metric(registry, 'spillway_drained_total', { route: 'exhaust', result: 'retry' })).toBe(2);
}, 120000);

test('defer() refuses a route without defer settings instead of pretending it stored it', async () => {
  const registry = new Registry();
  const d = deferrer('storm', { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 20 }, registry);
  await expect(d.defer(sendFor('nope', 'k'))).rejects.toThrow(/does not defer/);
  expect(await metric(registry, 'spillway_defer_failed_total', { route: 'nope' })).toBe(1);
}, 120000);

test('a route that starts deferring on a config apply is stored and drained too', async () => {
  const settings = { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 50 };
  const d = deferrer('first', settings);
  await expect(d.defer(sendFor('late', 'late-0'))).rejects.toThrow(/does not defer/);
  const rec = recorder();
  d.startDrainer(rec.replay, () => true);
  await d.defer(sendFor('first', 'first-1'));
  d.updateRoutes([
    { name: 'first', defer: settings },
    { name: 'late', defer: settings },
  ]);
  await d.defer(sendFor('late', 'late-1'));
  expect(await waitFor(() => rec.calls.length >= 2, 40_000)).toBe(true);
  expect(rec.calls.map((c) => c.key).sort()).toEqual(['first-1', 'late-1']);
}, 120000);

test('a burst of 1000 concurrent defers is stored within the bound (coalesced into few produce requests)', async () => {
  const registry = new Registry();
  const d = deferrer('burst', { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 50 }, registry);
  const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => d.defer(sendFor('burst', `burst-${i}`))));
  expect(results.filter((r) => r.status === 'rejected')).toHaveLength(0);
  expect(await metric(registry, 'spillway_deferred_total', { route: 'burst' })).toBe(1000);
}, 120_000);

test('garbage records between good ones are dead-lettered with their reason; every good one is replayed; the drainer never stops', async () => {
  const registry = new Registry();
  const route = 'hostile';
  const d = deferrer(route, { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 200 }, registry);
  const now = Date.now();
  const good = (key: string): OutRecord => encodeSend(sendFor(route, key), now + 600_000);
  const forged = (key: string, headers: Record<string, string | undefined>, value?: Buffer): OutRecord => {
    const r = good(key);
    const merged = { ...r.headers, ...headers };
    return { key, value: value ?? r.value, headers: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as Record<string, string> };
  };
  const hostile: Array<{ record: OutRecord; error: RegExp }> = [
    { record: { key: 'bad-no-headers', value: Buffer.from([0xde, 0xad, 0xbe, 0xef]), headers: {} }, error: /^route: missing/ },
    { record: forged('bad-json', { headers: '{"content-type": "application/json", ' }), error: /^headers: not JSON/ },
    { record: forged('bad-shape', { headers: '["content-type", "x"]' }), error: /^headers: not a JSON object/ },
    { record: forged('bad-header-type', { headers: '{"x-n": 5}' }), error: /^headers: the value of x-n/ },
    { record: forged('bad-route', { route: 'other-route' }), error: /^route: not the route of its topic/ },
    { record: forged('bad-crlf-header', { headers: JSON.stringify({ 'x-a': 'v\r\nHost: evil.example' }) }), error: /^headers: the value of x-a .* CR, LF/ },
    { record: forged('bad-crlf-path', { path: '/v1/send HTTP/1.1\r\nHost: evil.example\r\n\r\nGET /x' }), error: /^path:/ },
    { record: forged('bad-method', { method: 'POST /x' }), error: /^method:/ },
    { record: forged('bad-first-seen', { 'first-seen': String(now + 86_400_000 * 365) }), error: /^first-seen:/ },
    { record: forged('bad-expires', { 'expires-at': '8640000000000000' }), error: /^expires-at:/ },
    { record: forged('bad-retry-at', { 'retry-at': String(now + 86_400_000) }), error: /^retry-at:/ },
    { record: forged('bad-attempts', { attempts: 'NaN' }), error: /^attempts:/ },
    { record: forged('bad-negative', { 'first-seen': '-5' }), error: /^first-seen:/ },
    { record: forged('bad-oversized', {}, Buffer.alloc(MAX_DEFERRED_BODY + 1, 0x61)), error: /^body: \d+ bytes, over 1048576/ },
  ];
  // Interleaved good, bad, good, ... (spread over the partitions by key): the drainer must get past every bad one.
  const link = createKafkaLink({ brokers: mock.bootstrap, clientId: 'hostile-producer', log: quietLog });
  const producer = link.producer();
  const goodKeys: string[] = [];
  try {
    for (const [i, h] of hostile.entries()) {
      const key = `good-${i}`;
      goodKeys.push(key);
      await producer.send(`spillway.deferred.${route}`, [good(key)]);
      await producer.send(`spillway.deferred.${route}`, [h.record]);
    }
    goodKeys.push('good-last');
    await producer.send(`spillway.deferred.${route}`, [good('good-last')]);
  } finally {
    await producer.close();
  }

  const rec = recorder();
  d.startDrainer(rec.replay, () => true);
  expect(await waitFor(() => rec.calls.length >= goodKeys.length, 60_000)).toBe(true);
  const dead = await readTopic(mock.bootstrap, `spillway.dead-letter.${route}`, hostile.length, 60_000);
  await sleep(500); // nothing more may come
  expect(rec.calls.map((c) => c.key).sort()).toEqual([...goodKeys].sort());
  expect(dead).toHaveLength(hostile.length);
  for (const h of hostile) {
    const r = dead.find((x) => x.key === h.record.key);
    expect([h.record.key, r?.headers.reason]).toEqual([h.record.key, 'malformed']);
    expect([h.record.key, r?.headers.error]).toEqual([h.record.key, expect.stringMatching(h.error)]);
    expect(r?.value.equals(h.record.value)).toBe(true); // the record as it was, for a human to judge
  }
  expect(await metric(registry, 'spillway_dead_letter_total', { route, reason: 'malformed' })).toBe(hostile.length);
  expect(await metric(registry, 'spillway_drained_total', { route, result: 'delivered' })).toBe(goodKeys.length);
}, 180_000);

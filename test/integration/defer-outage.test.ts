/**
 * kafka-outage: every broker goes down in the middle of a run of deferred sends and comes back.
 * Every send must end counted: stored (defer() resolved) and then delivered or dead-lettered, or
 * refused (defer() rejected, the caller answers 503 defer-unavailable). No silent losses.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import { startKafkaMock, type KafkaMock } from '../../e2e/kafka-mock/index.js';
import type { DeferredSend, ReplayOutcome } from '../../sidecar/egress/contracts.js';
import { createKafkaDeferrer, type KafkaDeferrer } from '../../sidecar/egress/defer.js';
import { quietLog, readTopic, sendFor, sleep, waitFor } from './defer-support.js';

const ROUTE = 'outage';
const SENT = 60;
let mock: KafkaMock;
let deferrer: KafkaDeferrer | undefined;

beforeAll(async () => {
  mock = await startKafkaMock({ brokers: 3, topics: [`spillway.deferred.${ROUTE}:3`, `spillway.dead-letter.${ROUTE}:1`] });
}, 180000);

afterAll(async () => {
  await deferrer?.close();
  await mock?.stop();
}, 180000);

test('brokers down mid-run: every send is delivered, dead-lettered or refused, and counted', async () => {
  const registry = new Registry();
  deferrer = createKafkaDeferrer({
    brokers: mock.bootstrap,
    clientId: 'outage-test',
    groupId: `spillway-drainer-test/${ROUTE}`,
    routes: [{ name: ROUTE, defer: { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 100 } }],
    registry,
    log: quietLog,
    sessionTimeoutMs: 6000,
  });
  const delivered = new Map<string, number>();
  // Sends the vendor rejects for good (before and after the outage): they must be dead-lettered.
  const rejects = new Set(['out-7', 'out-14', 'out-50', 'out-57']);
  const replay = async (send: DeferredSend): Promise<ReplayOutcome> => {
    delivered.set(send.key, (delivered.get(send.key) ?? 0) + 1);
    return rejects.has(send.key) ? 'failed' : 'delivered';
  };
  deferrer.startDrainer(replay, () => true);

  const accepted: string[] = [];
  const refused: string[] = [];
  const pending: Array<Promise<void>> = [];
  const started = Date.now();
  for (let i = 0; i < SENT; i++) {
    if (i === 15) await mock.down(-1);
    if (i === 45) await mock.up(-1);
    const key = `out-${i}`;
    pending.push(
      deferrer.defer(sendFor(ROUTE, key)).then(
        () => void accepted.push(key),
        () => void refused.push(key),
      ),
    );
    await sleep(100);
  }
  await Promise.all(pending);
  expect(Date.now() - started).toBeLessThan(30_000); // every defer() answered within its bound

  expect(accepted.length + refused.length).toBe(SENT);
  expect(refused.length).toBeGreaterThan(0); // the outage was felt...
  expect(accepted.length).toBeGreaterThan(20); // ...and sends before and after it were stored

  const failing = accepted.filter((k) => rejects.has(k));
  const dead = new Set<string>();
  const settled = () => accepted.every((k) => delivered.has(k));
  expect(await waitFor(settled, 90_000)).toBe(true);
  for (const r of await readTopic(mock.bootstrap, `spillway.dead-letter.${ROUTE}`, failing.length, 30_000)) {
    expect(r.headers.reason).toBe('failed');
    dead.add(r.key ?? '');
  }

  const deliveredOk = accepted.filter((k) => !dead.has(k));
  const lost = accepted.filter((k) => !delivered.has(k) && !dead.has(k));
  expect(lost).toEqual([]);
  expect([...dead].sort()).toEqual([...failing].sort());
  expect(deliveredOk.length + dead.size + refused.length).toBe(SENT);
  // A refused send was never acknowledged. Only one whose ack was lost as the brokers went
  // down could still have been stored and replayed (not a loss; dedup keeps the client's retry
  // of it from delivering twice); the producer's short retry budget keeps a refused send from
  // landing later in the background.
  const refusedButReplayed = refused.filter((k) => delivered.has(k));
  expect(refusedButReplayed.length).toBeLessThanOrEqual(1);
  // (A replay may repeat when the drainer's offset commit is lost in the outage: at-least-once
  // by design, the egress's dedup makes the repeat a no-op. So repeats are not asserted here.)

  const deferred = (await registry.getSingleMetric('spillway_deferred_total')?.get())?.values[0]?.value;
  const failed = (await registry.getSingleMetric('spillway_defer_failed_total')?.get())?.values[0]?.value;
  expect(deferred).toBe(accepted.length);
  expect(failed).toBe(refused.length);
}, 180000);

/**
 * The Kafka test broker: librdkafka's mock cluster in a child process speaks the real protocol
 * to kafkajs (through sidecar/egress/kafka.ts), and `down`/`up` inject an outage.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startKafkaMock, type KafkaMock } from '../../e2e/kafka-mock/index.js';
import { createKafkaLink, type InRecord, type Log } from '../../sidecar/egress/kafka.js';

const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };
let mock: KafkaMock;

beforeAll(async () => {
  mock = await startKafkaMock({ brokers: 3, topics: ['probe:2'] });
}, 90000);

afterAll(async () => {
  await mock?.stop();
}, 90000);

const record = (i: number) => ({ key: `k${i}`, value: Buffer.from(`v${i}`), headers: { n: String(i) } });

test('prints its bootstrap servers and answers commands', async () => {
  expect(mock.bootstrap).toHaveLength(3);
  for (const b of mock.bootstrap) expect(b).toMatch(/^[\w.-]+:\d+$/);
  await expect(mock.down(2)).resolves.toBeUndefined();
  await expect(mock.up(2)).resolves.toBeUndefined();
}, 90000);

test('a producer is refused while every broker is down and works again after up', async () => {
  const link = createKafkaLink({ brokers: mock.bootstrap, clientId: 'mock-test', log: quiet, produceTimeoutMs: 2000 });
  const producer = link.producer();
  try {
    await producer.send('probe', [record(1)]);
    await mock.down(-1);
    const started = Date.now();
    await expect(producer.send('probe', [record(2)])).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(10_000); // bounded, not kafkajs' default 30 s of retries
    await mock.up(-1);
    let ok = false;
    for (let i = 0; i < 30 && !ok; i++) {
      ok = await producer.send('probe', [record(3)]).then(
        () => true,
        () => false,
      );
      if (!ok) await new Promise((r) => setTimeout(r, 500));
    }
    expect(ok).toBe(true);
  } finally {
    await producer.close();
  }
}, 90000);

test('a consumer group reads back what was produced, with key and headers', async () => {
  const link = createKafkaLink({ brokers: mock.bootstrap, clientId: 'mock-test', log: quiet });
  const producer = link.producer();
  const consumer = link.consumer('mock-test-reader');
  const seen: InRecord[] = [];
  try {
    await producer.send('probe', [record(10), record(11)]);
    await consumer.start(['probe'], async (_t, _p, records, ctl) => {
      for (const r of records) {
        seen.push(r);
        ctl.resolve(r.offset);
      }
    });
    for (let i = 0; i < 200 && !seen.some((r) => r.key === 'k11'); i++) await new Promise((r) => setTimeout(r, 100));
    const r11 = seen.find((r) => r.key === 'k11');
    expect(r11?.value.toString()).toBe('v11');
    expect(r11?.headers.n).toBe('11');
  } finally {
    await consumer.close();
    await producer.close();
  }
}, 90000);

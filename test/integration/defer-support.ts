/** Shared pieces of the deferral tests: a send factory, a quiet logger, a topic reader. */
import type { DeferredSend } from '../../sidecar/egress/contracts.js';
import { createKafkaLink, type InRecord, type Log } from '../../sidecar/egress/kafka.js';

export const quietLog: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function sendFor(route: string, key: string, firstSeenMs = Date.now()): DeferredSend {
  return {
    route,
    method: 'POST',
    path: '/v1/send?to=user',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: Buffer.from(JSON.stringify({ key })),
    key,
    firstSeenMs,
    attempts: 0,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every 100 ms for at most `timeoutMs`; returns whether it became true. */
export async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Reads `topic` from the beginning with a fresh group until `count` records arrived or the time is up. */
export async function readTopic(brokers: string[], topic: string, count: number, timeoutMs: number): Promise<InRecord[]> {
  const consumer = createKafkaLink({ brokers, clientId: 'test-reader', log: quietLog, sessionTimeoutMs: 6000 }).consumer(`reader-${topic}-${Date.now()}`);
  const records: InRecord[] = [];
  try {
    await consumer.start([topic], async (_t, _p, batch, ctl) => {
      for (const r of batch) {
        records.push(r);
        ctl.resolve(r.offset);
      }
    });
    await waitFor(() => records.length >= count, timeoutMs);
  } finally {
    await consumer.close();
  }
  return records;
}

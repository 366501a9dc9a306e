/**
 * The drainer's handling of fetched batches of deferred sends. Each record ends in exactly one
 * of: delivered (replay said so), dead-lettered (expired, out of attempts, failed, malformed) or
 * re-queued with attempts + 1; only then is its offset resolved, and resolved offsets are
 * committed in batches. A record that cannot be handled now (load level not 0, or a re-queued
 * send whose backoff has not passed) stays unresolved and its partition is paused, so nothing
 * spins and nothing is skipped: kafkajs fetches it again after resume.
 */
import type { DeferredSend, ReplayOutcome } from './contracts.js';
import { deadLetterRecord, deadLetterTopic, decodeSend, deferredTopic, encodeSend, DEFERRED_TOPIC_PREFIX, type DeadLetterReason } from './defer-record.js';
import type { BatchControl, BatchHandler, InRecord, KafkaProducer, Log } from './kafka.js';

export interface DeferSettings {
  maxAgeSeconds: number;
  maxAttempts: number;
  drainRatePerSecond: number;
}

export interface DrainMetrics {
  drained(route: string, result: ReplayOutcome): void;
  deadLettered(route: string, reason: DeadLetterReason): void;
}

export interface DrainerDeps {
  producer: KafkaProducer;
  settings(route: string): DeferSettings | undefined;
  replay(send: DeferredSend): Promise<ReplayOutcome>;
  canDrain(): boolean;
  now(): number;
  metrics: DrainMetrics;
  log: Log;
}

/** How often parked partitions check whether they may resume. */
const PARK_CHECK_MS = 200;
/** Backoff before a re-queued send is replayed again: 1 s, 2 s, 4 s ... at most 30 s. */
export const retryBackoffMs = (attempts: number): number => Math.min(30_000, 1000 * 2 ** Math.max(0, attempts - 1));

export interface Drainer {
  onBatch: BatchHandler;
  /** Drops parked partitions and stops the park timer (the consumer is going away). */
  stop(): void;
}

export function createDrainer(deps: DrainerDeps): Drainer {
  const parked: Array<{ resume: () => void; until: number | 'drain' }> = [];
  let parkTimer: NodeJS.Timeout | null = null;
  const nextSlot = new Map<string, number>();

  const checkParked = (): void => {
    const wallNow = Date.now();
    const drainable = deps.canDrain();
    for (let i = parked.length - 1; i >= 0; i--) {
      const p = parked[i];
      if (p.until === 'drain' ? drainable : wallNow >= p.until) {
        parked.splice(i, 1);
        p.resume();
      }
    }
    if (parked.length === 0 && parkTimer) {
      clearInterval(parkTimer);
      parkTimer = null;
    }
  };

  const park = (ctl: BatchControl, until: number | 'drain'): void => {
    parked.push({ resume: ctl.pause(), until });
    parkTimer ??= setInterval(checkParked, PARK_CHECK_MS);
  };

  /** Waits for the route's next replay slot (drainRatePerSecond, a burst of one). */
  const pace = async (route: string, rate: number): Promise<void> => {
    const now = Date.now();
    const slot = Math.max(now, nextSlot.get(route) ?? 0);
    nextSlot.set(route, slot + 1000 / rate);
    if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
  };

  const deadLetter = async (route: string, record: InRecord, reason: DeadLetterReason, error?: string): Promise<void> => {
    await deps.producer.send(deadLetterTopic(route), [deadLetterRecord(record, reason, deps.now(), error)]);
    deps.metrics.deadLettered(route, reason);
  };

  /** Handles one record; false: leave it (and the rest of the batch) for later. */
  const handle = async (topicRoute: string, record: InRecord, ctl: BatchControl): Promise<boolean> => {
    if (!deps.canDrain()) {
      park(ctl, 'drain');
      return false;
    }
    const decoded = decodeSend(record, topicRoute, deps.now());
    if (!decoded.ok) {
      // Never replayed, never retried: one bad record must not hold up the ones behind it.
      deps.log.warn('deferred record is malformed; dead-lettered', { topic: deferredTopic(topicRoute), offset: record.offset, error: decoded.error });
      await deadLetter(topicRoute, record, 'malformed', decoded.error);
      return true;
    }
    const { stored } = decoded;
    const { send } = stored;
    const settings = deps.settings(topicRoute);
    if (!settings) {
      // Defer was configured when this was stored; without its settings we cannot pace it.
      park(ctl, Date.now() + 5000);
      return false;
    }
    if (deps.now() >= stored.expiresAt) {
      await deadLetter(topicRoute, record, 'expired');
      return true;
    }
    if (send.attempts >= settings.maxAttempts) {
      await deadLetter(topicRoute, record, 'attempts-exhausted');
      return true;
    }
    if (stored.retryAt > deps.now()) {
      park(ctl, Date.now() + (stored.retryAt - deps.now()));
      return false;
    }
    await pace(topicRoute, settings.drainRatePerSecond);
    let outcome: ReplayOutcome;
    try {
      outcome = await deps.replay(send);
    } catch (err) {
      deps.log.warn('replay of a deferred send threw; re-queued', { route: topicRoute, err });
      outcome = 'retry';
    }
    deps.metrics.drained(topicRoute, outcome);
    if (outcome === 'failed') {
      await deadLetter(topicRoute, record, 'failed');
    } else if (outcome === 'retry') {
      const attempts = send.attempts + 1;
      if (attempts >= settings.maxAttempts) {
        await deadLetter(topicRoute, { ...record, headers: { ...record.headers, attempts: String(attempts) } }, 'attempts-exhausted');
      } else {
        const again = { ...send, attempts };
        await deps.producer.send(deferredTopic(topicRoute), [encodeSend(again, stored.expiresAt, deps.now() + retryBackoffMs(attempts))]);
      }
    }
    return true;
  };

  return {
    async onBatch(topic, _partition, records, ctl) {
      const route = topic.slice(DEFERRED_TOPIC_PREFIX.length);
      for (const record of records) {
        if (!ctl.active()) return;
        // A failure to write to Kafka throws out of here: the record stays unresolved and kafkajs
        // fetches it again, so it is never lost (a replay may repeat; dedup absorbs it).
        if (!(await handle(route, record, ctl))) return;
        ctl.resolve(record.offset);
        await ctl.heartbeat();
        await ctl.commitIfDue();
      }
    },
    stop() {
      parked.length = 0;
      if (parkTimer) clearInterval(parkTimer);
      parkTimer = null;
    },
  };
}

/**
 * The Deferrer backed by Kafka: `defer()` stores a shed send on its route's topic and resolves
 * only once Kafka acknowledged it with acks=all (the caller answers 202 only then, 503
 * defer-unavailable otherwise); the drainer, a consumer group in the sidecar, replays the sends
 * while the load level is 0 (see drainer.ts).
 */
import { Counter, type Registry } from 'prom-client';
import type { CompiledRoute } from '../../api/config.js';
import type { Deferrer, DeferredSend, ReplayOutcome } from './contracts.js';
import { deferredTopic, encodeSend } from './defer-record.js';
import { createDrainer, type DeferSettings, type Drainer } from './drainer.js';
import { createKafkaLink, type GroupConsumer, type Log } from './kafka.js';

export interface KafkaDeferrerOptions {
  brokers: string[];
  clientId: string;
  /** The drainer's consumer group: `drainerGroupId(<namespace>/<target>)`. */
  groupId: string;
  routes: Array<Pick<CompiledRoute, 'name' | 'defer'>>;
  registry: Registry;
  log: Log;
  /** Clock for expiry (tests move it); defaults to Date.now. */
  now?: () => number;
  /** Bound on one defer(): Kafka must have stored the send within it. Default 2000. */
  deferTimeoutMs?: number;
  /** The drainer's consumer group session timeout (see kafka.ts). */
  sessionTimeoutMs?: number;
}

export interface KafkaDeferrer extends Deferrer {
  /** New route settings from a config apply; topics of new defer routes join the drainer. */
  updateRoutes(routes: Array<Pick<CompiledRoute, 'name' | 'defer'>>): void;
}

/** After kafkajs gave up on the drainer's consumer, start a new one after this long. */
const RESTART_DELAY_MS = 5000;

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function createKafkaDeferrer(opts: KafkaDeferrerOptions): KafkaDeferrer {
  const now = opts.now ?? Date.now;
  const log = opts.log;
  const link = createKafkaLink({ brokers: opts.brokers, clientId: opts.clientId, log, produceTimeoutMs: opts.deferTimeoutMs, sessionTimeoutMs: opts.sessionTimeoutMs });
  const producer = link.producer();
  const deferredTotal = counter(opts.registry, 'spillway_deferred_total', 'Sends stored in Kafka for a later replay.', ['route']);
  const deferFailed = counter(opts.registry, 'spillway_defer_failed_total', 'Sends Kafka could not store (answered 503 defer-unavailable).', ['route']);
  const drainedTotal = counter(opts.registry, 'spillway_drained_total', 'Replays of deferred sends, by outcome.', ['route', 'result']);
  const deadLetterTotal = counter(opts.registry, 'spillway_dead_letter_total', 'Deferred sends moved to the dead-letter topic.', ['route', 'reason']);

  // Settings stay known after a route drops `defer`, so what it already stored still drains.
  const settings = new Map<string, DeferSettings>();
  const active = new Set<string>();
  let drain: { replay: (s: DeferredSend) => Promise<ReplayOutcome>; canDrain: () => boolean } | null = null;
  let consumer: GroupConsumer | null = null;
  let drainer: Drainer | null = null;
  let subscribed = new Set<string>();
  let lifecycle: Promise<void> = Promise.resolve();
  let restartTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const applyRoutes = (routes: KafkaDeferrerOptions['routes']): void => {
    active.clear();
    for (const r of routes) {
      if (!r.defer) continue;
      settings.set(r.name, r.defer);
      active.add(r.name);
    }
  };

  const stopConsumer = async (): Promise<void> => {
    drainer?.stop();
    drainer = null;
    const c = consumer;
    consumer = null;
    await c?.close().catch((err: unknown) => log.warn('closing the drainer consumer failed', { err }));
  };

  const startConsumer = async (): Promise<void> => {
    if (!drain || closed || settings.size === 0) return;
    const topics = [...settings.keys()].map(deferredTopic);
    const d = createDrainer({
      producer,
      settings: (route) => settings.get(route),
      replay: drain.replay,
      canDrain: drain.canDrain,
      now,
      log,
      metrics: {
        drained: (route, result) => drainedTotal.inc({ route, result }),
        deadLettered: (route, reason) => deadLetterTotal.inc({ route, reason }),
      },
    });
    const c = link.consumer(opts.groupId);
    c.onFatal((err) => {
      log.error('drainer consumer stopped; restarting', { err, delayMs: RESTART_DELAY_MS });
      scheduleRestart();
    });
    drainer = d;
    consumer = c;
    try {
      await c.start(topics, d.onBatch);
    } catch (err) {
      log.warn('drainer could not start; will retry', { err, delayMs: RESTART_DELAY_MS });
      scheduleRestart();
    }
  };

  const restart = (): void => {
    // What the consumer will subscribe to; updateRoutes compares against it.
    subscribed = new Set([...settings.keys()].map(deferredTopic));
    lifecycle = lifecycle.then(async () => {
      await stopConsumer();
      await startConsumer();
    });
  };

  const scheduleRestart = (): void => {
    if (closed || restartTimer) return;
    restartTimer = setTimeout(() => {
      restartTimer = null;
      restart();
    }, RESTART_DELAY_MS);
  };

  applyRoutes(opts.routes);

  return {
    async defer(send) {
      const s = active.has(send.route) ? settings.get(send.route) : undefined;
      if (!s || closed) {
        deferFailed.inc({ route: send.route });
        throw new Error(closed ? 'deferrer closed' : `route "${send.route}" does not defer`);
      }
      try {
        await producer.send(deferredTopic(send.route), [encodeSend(send, send.firstSeenMs + s.maxAgeSeconds * 1000)]);
      } catch (err) {
        deferFailed.inc({ route: send.route });
        throw err;
      }
      deferredTotal.inc({ route: send.route });
    },

    startDrainer(replay, canDrain) {
      if (drain) throw new Error('drainer already started');
      drain = { replay, canDrain };
      restart();
    },

    updateRoutes(routes) {
      applyRoutes(routes);
      // kafkajs cannot add topics to a running consumer: a new deferring route means a new one.
      if (drain && [...settings.keys()].some((r) => !subscribed.has(deferredTopic(r)))) restart();
    },

    async close() {
      closed = true;
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      await lifecycle;
      await stopConsumer();
      await producer.close().catch((err: unknown) => log.warn('closing the defer producer failed', { err }));
    },
  };
}

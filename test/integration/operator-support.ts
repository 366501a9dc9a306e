/** Shared helpers of the operator integration tests (fake API server, real redis-server). */
import { Redis } from 'ioredis';
import type { CompiledConfig } from '../../api/config.js';
import { Controller, type ControllerOptions } from '../../operator/controller.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { RedisPublisher } from '../../operator/publisher.js';
import { RedisServer } from '../support/redis.js';
import type { FakeKube } from '../unit/operator-fakes.js';

/** Polls fn until it returns something truthy; fails after timeoutMs (generous: the machine is shared). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 8000): Promise<Exclude<T, null | undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<T, null | undefined | false>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The compiled config the operator published for a target ("namespace/name"), or null. */
export async function storedConfig(client: Redis, target: string): Promise<CompiledConfig | null> {
  const raw = await client.get(`spillway:config:${target}`);
  return raw ? (JSON.parse(raw) as CompiledConfig) : null;
}

/**
 * The operator's controller on a fake API server and a private redis-server, the way main.ts
 * wires it (the publisher re-enqueues every policy when Redis is back). `stop()` ends all of it.
 */
export interface OperatorStack {
  redis: RedisServer;
  /** A plain client of the same Redis, for reading what was published. */
  client: Redis;
  metrics: OperatorMetrics;
  publisher: RedisPublisher;
  controller: Controller;
  stop(): Promise<void>;
}

export async function startOperatorStack(kube: FakeKube, options: Partial<Omit<ControllerOptions, 'kube' | 'publisher' | 'metrics'>> = {}): Promise<OperatorStack> {
  const redis = await RedisServer.start();
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const metrics = new OperatorMetrics();
  // As main.ts: onReady fires on a Redis event, so after `controller` below exists.
  const publisher = new RedisPublisher(redis.url, { onReady: () => controller.enqueueAll() });
  const controller = new Controller({ kube, publisher, metrics, workers: 2, ...options });
  controller.startInformers();
  controller.startWorkers();
  return {
    redis,
    client,
    metrics,
    publisher,
    controller,
    stop: async () => {
      await controller.stop();
      await publisher.close();
      client.disconnect();
      await redis.stop();
    },
  };
}

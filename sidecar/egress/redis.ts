/**
 * The egress's Redis connection (dedup claims and vendor-health reports). Short command
 * timeouts and no offline queue: while Redis is away a command fails within
 * REDIS_COMMAND_TIMEOUT_MS instead of holding a send, and the route's onRedisDown decides.
 */
import { Redis } from 'ioredis';

export const REDIS_COMMAND_TIMEOUT_MS = 200;

export function connectEgressRedis(url: string): Redis {
  const client = new Redis(url, {
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 1000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * attempt, 500),
  });
  // Outages are expected and handled per command; without a listener ioredis would log each one.
  client.on('error', () => {});
  return client;
}

/** Waits (bounded) for the first connection so the first sends do not see "Redis down". */
export function waitReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once('ready', done);
  });
}

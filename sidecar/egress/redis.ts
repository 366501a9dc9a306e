/**
 * The egress's Redis connection (dedup claims and vendor-health reports). Short command
 * timeouts and no offline queue: while Redis is away a command fails within
 * REDIS_COMMAND_TIMEOUT_MS instead of holding a send, and the route's onRedisDown decides.
 * The URL may name one node, a Sentinel-managed master or a Cluster (lib/redis-url.ts); every
 * command the egress sends touches one key, so Cluster mode needs no hash tags here.
 */
import { Cluster, Redis } from 'ioredis';
import { connectSpec, parseRedisUrl } from '../../lib/redis-url.js';

export const REDIS_COMMAND_TIMEOUT_MS = 200;

export type EgressRedis = Redis | Cluster;

export function connectEgressRedis(url: string): EgressRedis {
  const spec = connectSpec(parseRedisUrl(url));
  const retry = (attempt: number) => Math.min(50 * attempt, 500);
  const commands = { commandTimeout: REDIS_COMMAND_TIMEOUT_MS, connectTimeout: 1000, maxRetriesPerRequest: 0 };
  const client =
    spec.kind === 'cluster'
      ? new Cluster(spec.nodes, { enableOfflineQueue: false, clusterRetryStrategy: retry, redisOptions: { ...commands, ...spec.redisOptions } })
      : new Redis({ ...commands, enableOfflineQueue: false, retryStrategy: retry, ...spec.options });
  // Outages are expected and handled per command; without a listener ioredis would log each one.
  client.on('error', () => {});
  return client;
}

/** Waits (bounded) for the first connection so the first sends do not see "Redis down". */
export function waitReady(client: EgressRedis, timeoutMs: number): Promise<void> {
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

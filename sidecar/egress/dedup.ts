/**
 * Duplicate suppression by idempotency key. A send claims `spillway:dedup:<ns>/<target>:<route>:<key>` before
 * it goes out (SET NX, short "pending" expiry covering the send); on an answer the key records
 * the first status for the route's TTL (retried for a while if Redis is away just then); if every vendor failed the key is released so the caller
 * may retry. The key is per route, not per vendor, so it spans failover, and per workload, so
 * two workloads that name a route alike never suppress each other's sends (and a workload's
 * Redis ACL user may touch its own keys only: api/redis-acl.ts).
 */
import { dedupPrefix } from '../../api/redis-acl.js';
import type { EgressRedis } from './redis.js';

export type ClaimResult =
  | { kind: 'claimed' }
  | { kind: 'done'; status: number }
  | { kind: 'pending' }
  | { kind: 'unavailable' };

export interface DedupStore {
  /** pendingMs: how long the claim holds without an answer (the send's whole budget + margin). */
  claim(route: string, key: string, pendingMs: number): Promise<ClaimResult>;
  /** Records the first answer's status for ttlSeconds. Best effort. */
  complete(route: string, key: string, status: number, ttlSeconds: number): void;
  /** Forgets a claim whose send failed everywhere. Best effort. */
  release(route: string, key: string): void;
  /**
   * Reads without claiming (a shed send about to be deferred: its replay claims later). `claimed`
   * here means the key is free.
   */
  peek(route: string, key: string): Promise<ClaimResult>;
}

export function dedupKey(workload: string, route: string, key: string): string {
  return `${dedupPrefix(workload)}${route}:${key}`;
}

const PENDING = '{"state":"pending"}';
/** Rewrites of a delivered key while Redis is away: 0.5 s, 1 s, ... about 10 s in all. */
const COMPLETE_RETRIES = 6;
const COMPLETE_RETRY_MS = 500;
const CLAIMED: ClaimResult = { kind: 'claimed' };
const PENDING_RESULT: ClaimResult = { kind: 'pending' };
const UNAVAILABLE: ClaimResult = { kind: 'unavailable' };

/** Claim or read, atomically: nil when claimed, else the value already there. */
const CLAIM_SCRIPT = `if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return false end
return redis.call('GET', KEYS[1])`;

function parseStored(raw: string): ClaimResult {
  try {
    const v = JSON.parse(raw) as { state?: string; status?: number };
    if (v.state === 'done' && typeof v.status === 'number') return { kind: 'done', status: v.status };
  } catch {
    // A foreign value under our key: treat it as taken rather than send twice.
  }
  return PENDING_RESULT;
}

export class RedisDedupStore implements DedupStore {
  private readonly prefix: string;

  /** workload: `<ns>/<target>` (the config key). */
  constructor(
    private readonly redis: EgressRedis,
    workload: string,
  ) {
    this.prefix = dedupPrefix(workload);
  }

  private key(route: string, key: string): string {
    return `${this.prefix}${route}:${key}`;
  }

  async claim(route: string, key: string, pendingMs: number): Promise<ClaimResult> {
    try {
      const existing = (await this.redis.eval(CLAIM_SCRIPT, 1, this.key(route, key), PENDING, Math.max(1, Math.round(pendingMs)))) as
        | string
        | null;
      return existing === null ? CLAIMED : parseStored(existing);
    } catch {
      return UNAVAILABLE;
    }
  }

  complete(route: string, key: string, status: number, ttlSeconds: number): void {
    this.writeDone(this.key(route, key), `{"state":"done","status":${status}}`, ttlSeconds, 0);
  }

  /**
   * The send was delivered: if Redis is away now, keep trying for a while, or the pending claim
   * would lapse and a later repeat of the key would be sent again.
   */
  private writeDone(k: string, value: string, ttlSeconds: number, attempt: number): void {
    this.redis.set(k, value, 'EX', ttlSeconds).catch(() => {
      if (attempt >= COMPLETE_RETRIES) return;
      setTimeout(() => this.writeDone(k, value, ttlSeconds, attempt + 1), COMPLETE_RETRY_MS * (attempt + 1)).unref();
    });
  }

  release(route: string, key: string): void {
    this.redis.del(this.key(route, key)).catch(() => {});
  }

  async peek(route: string, key: string): Promise<ClaimResult> {
    try {
      const existing = await this.redis.get(this.key(route, key));
      return existing === null ? CLAIMED : parseStored(existing);
    } catch {
      return UNAVAILABLE;
    }
  }
}

/** Standalone mode (no Redis): the same rules within this one pod, bounded in size. */
export class MemoryDedupStore implements DedupStore {
  private readonly entries = new Map<string, { status: number; expiresAt: number }>();

  constructor(
    private readonly now: () => number,
    private readonly maxEntries = 100_000,
  ) {}

  async claim(route: string, key: string, pendingMs: number): Promise<ClaimResult> {
    const k = `${route}:${key}`;
    const t = this.now();
    const e = this.entries.get(k);
    if (e && e.expiresAt > t) return e.status === 0 ? PENDING_RESULT : { kind: 'done', status: e.status };
    if (e) this.entries.delete(k);
    if (this.entries.size >= this.maxEntries) this.evictOldest();
    this.entries.set(k, { status: 0, expiresAt: t + pendingMs });
    return CLAIMED;
  }

  complete(route: string, key: string, status: number, ttlSeconds: number): void {
    const k = `${route}:${key}`;
    if (this.entries.has(k)) this.entries.set(k, { status, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  release(route: string, key: string): void {
    this.entries.delete(`${route}:${key}`);
  }

  async peek(route: string, key: string): Promise<ClaimResult> {
    const e = this.entries.get(`${route}:${key}`);
    if (!e || e.expiresAt <= this.now()) return CLAIMED;
    return e.status === 0 ? PENDING_RESULT : { kind: 'done', status: e.status };
  }

  private evictOldest(): void {
    const first = this.entries.keys().next();
    if (!first.done) this.entries.delete(first.value);
  }
}

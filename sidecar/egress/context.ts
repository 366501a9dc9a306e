/** What the egress's parts (forward, dedup, deferral, replay) share from the server that owns them. */
import type { AccessLog } from '../admission/access-log.js';
import type { DedupStore } from './dedup.js';
import type { EgressMetrics } from './metrics.js';

export interface EgressContext {
  /** ms clock (epoch). */
  readonly now: () => number;
  readonly dedup: DedupStore;
  readonly metrics: EgressMetrics;
  /** The access log when it writes end lines (mode `all`), else null. */
  readonly endLog: AccessLog | null;
}

/** Bodies kept in memory (for retries on another vendor, or for deferral) up to this size. */
export const MAX_BUFFERED_BODY = 1024 * 1024;

/**
 * One send through a route: to the vendor failover picks, and on a vendor failure again on the
 * next healthy vendor when that is allowed (retry-safe request with a replayable body) and the
 * caller's budget has time left. Each attempt's timeout is the vendor's, cut to what is left.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { AttemptOutcome } from './outcome.js';
import type { EgressRoute } from './route.js';

/** Below this much budget left, a retry could not get an answer anyway. */
const MIN_RETRY_BUDGET_MS = 10;

export interface SendResult {
  outcome: AttemptOutcome;
  res: IncomingMessage | null;
  /** Index of the vendor that gave the final outcome. */
  vendor: number;
}

export async function sendWithFailover(
  route: EgressRoute,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
  body: Buffer | Readable | null,
  retryable: boolean,
  deadlineMs: number,
  now: () => number,
): Promise<SendResult> {
  const f = route.failover;
  const countClientErrors = route.compiled.countClientErrors;
  let v = f.pick(now());
  let tried = 0;
  for (;;) {
    const target = route.targets[v];
    const left = deadlineMs - now();
    const timeoutMs = Math.max(1, Math.min(target.timeoutMs, left));
    // Each attempt gets its own header object: the client sets host and content-length on it.
    const r = await target.attempt(method, path, tried === 0 ? headers : { ...headers }, body, timeoutMs, countClientErrors);
    route.counters[v][r.outcome].inc();
    // A timeout cut short by the caller's budget says nothing about the vendor.
    if (r.outcome !== 'timeout' || timeoutMs === target.timeoutMs) f.record(v, r.outcome, now());
    if (r.outcome === 'success' || r.outcome === 'caller') return { outcome: r.outcome, res: r.res, vendor: v };
    tried |= 1 << v;
    const next = retryable && deadlineMs - now() > MIN_RETRY_BUDGET_MS ? f.retryVendor(tried, now()) : -1;
    if (next < 0) return { outcome: r.outcome, res: r.res, vendor: v };
    r.res?.resume();
    v = next;
  }
}

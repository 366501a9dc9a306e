/**
 * What the egress does with an idempotency key around a send: a duplicate is answered from the
 * claim instead of being sent again; after the send, the claim keeps the first answer or is freed
 * for a retry. (The claim stores themselves are in dedup.ts.)
 */
import type { ServerConn } from '../http1/server.js';
import { answerJson } from './admission.js';
import type { EgressContext } from './context.js';
import type { EgressRoute } from './route.js';
import type { Send } from './send.js';

/** A dedup claim outlives its send's budget by this much before it lapses unanswered. */
export const CLAIM_MARGIN_MS = 5000;

/** The key was sent before (`status`: its answer) or is being sent now (409). */
export function answerDuplicate(ctx: EgressContext, conn: ServerConn, route: EgressRoute, status: number): void {
  ctx.metrics.dedupSuppressed.inc({ route: route.name });
  answerJson(conn, status, `x-spillway-duplicate: true\r\nx-spillway-class: ${route.name}\r\n`, `{"duplicate":true,"status":${status}}`);
}

/** Keeps the first answer under the key; a send that no vendor took frees it for a retry. */
export function settleClaim(ctx: EgressContext, route: EgressRoute, key: string, r: Send): void {
  const dedup = route.compiled.dedup;
  if (!dedup) return;
  if ((r.outcome === 'success' || r.outcome === 'caller') && r.status !== 0) {
    ctx.dedup.complete(route.name, key, r.status, dedup.ttlSeconds);
  } else {
    ctx.dedup.release(route.name, key);
  }
}

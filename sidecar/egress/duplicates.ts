/**
 * What the egress does with an idempotency key around a send: a duplicate is answered from the
 * claim instead of being sent again; after the send, the claim keeps the first answer or is freed
 * for a retry. (The claim stores themselves are in dedup.ts.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './admission.js';
import type { EgressContext } from './context.js';
import type { EgressRoute } from './route.js';
import type { Send } from './send.js';

/** A dedup claim outlives its send's budget by this much before it lapses unanswered. */
export const CLAIM_MARGIN_MS = 5000;
const DUPLICATE_HEADERS = { 'x-spillway-duplicate': 'true' };

/** The key was sent before (`status`: its answer) or is being sent now (409). */
export function answerDuplicate(ctx: EgressContext, req: IncomingMessage, res: ServerResponse, route: EgressRoute, status: number): void {
  ctx.metrics.dedupSuppressed.inc({ route: route.name });
  sendJson(res, status, { ...DUPLICATE_HEADERS, 'x-spillway-class': route.name }, `{"duplicate":true,"status":${status}}`);
  req.resume();
}

/** Keeps the first answer under the key; a send that no vendor took frees it for a retry. */
export function settleClaim(ctx: EgressContext, route: EgressRoute, key: string, r: Send): void {
  const dedup = route.compiled.dedup;
  if (!dedup) return;
  if ((r.outcome === 'success' || r.outcome === 'caller') && r.res) {
    ctx.dedup.complete(route.name, key, r.res.statusCode ?? 200, dedup.ttlSeconds);
  } else {
    ctx.dedup.release(route.name, key);
  }
}

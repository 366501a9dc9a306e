/**
 * A send its route refused (capacity or load level) on a route with `defer`: the body is read
 * (≤ MAX_BUFFERED_BODY) and handed to the Deferrer; the caller gets 202 once Kafka has it. A
 * key already sent or being sent is answered as a duplicate instead of being stored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { refuse, sendJson } from './admission.js';
import { MAX_BUFFERED_BODY, type EgressContext } from './context.js';
import type { DeferredSend, Deferrer } from './contracts.js';
import { answerDuplicate } from './duplicates.js';
import { forwardHeaders, headerValue, readBody } from './http-util.js';
import type { EgressRoute } from './route.js';

export async function deferShed(
  ctx: EgressContext,
  deferrer: Deferrer,
  route: EgressRoute,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  level: number,
): Promise<void> {
  const body = await readBody(req, MAX_BUFFERED_BODY);
  if (body === null) {
    refuse(route, 'body-too-large', req, res, level);
    return;
  }
  const key = headerValue(req.headers[route.keyHeader]);
  if (key !== '' && route.compiled.dedup) {
    const c = await ctx.dedup.peek(route.name, key);
    if (c.kind === 'done' || c.kind === 'pending') {
      answerDuplicate(ctx, req, res, route, c.kind === 'done' ? c.status : 409);
      return;
    }
  }
  const send: DeferredSend = {
    route: route.name,
    method: req.method ?? 'POST',
    path,
    headers: forwardHeaders(req.headers),
    body,
    key,
    firstSeenMs: ctx.now(),
    attempts: 0,
  };
  try {
    await deferrer.defer(send);
  } catch {
    refuse(route, 'defer-unavailable', req, res, level);
    return;
  }
  sendJson(res, 202, { 'x-spillway-deferred': 'true', 'x-spillway-class': route.name }, '{"deferred":true}');
}

/**
 * The egress end of the admission core: a route is a budget (route.ts) and its refusals come
 * from the shared refusal table (admission/refusals.ts), counted here by reason for
 * spillway_egress_rejected_total.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EGRESS_REFUSALS, type EgressRefusal } from '../admission/outcomes.js';
import type { EgressRoute } from './route.js';

/** Answers a send the egress will not (or could not) deliver, and counts the refusal. */
export function refuse(route: EgressRoute, reason: EgressRefusal, req: IncomingMessage, res: ServerResponse, level: number): void {
  route.rejected[EGRESS_REFUSALS.indexOf(reason)]++;
  route.refusals.send(reason, req, res, level);
}

/** A JSON answer that is not a refusal (unknown route, deferred, duplicate). */
export function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

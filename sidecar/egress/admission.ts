/**
 * The egress end of the admission core: a route is a budget (route.ts) and its refusals come
 * from the shared refusal table (admission/refusals.ts) as preassembled bytes, one write,
 * counted here by reason for spillway_egress_rejected_total. Also the egress's few other answers
 * of its own (unknown route, deferred, duplicate).
 */
import { STATUS_CODES } from 'node:http';
import { EGRESS_REFUSALS, type EgressRefusal } from '../admission/outcomes.js';
import type { RequestHead } from '../http1/head.js';
import type { ServerConn } from '../http1/server.js';
import type { EgressRoute } from './route.js';

/**
 * Answers a send the egress will not (or could not) deliver, and counts the refusal. The
 * connection stays open when the request body is read or cheap to discard.
 */
export function refuse(route: EgressRoute, reason: EgressRefusal, conn: ServerConn, head: RequestHead, level: number): void {
  route.rejected[EGRESS_REFUSALS.indexOf(reason)]++;
  const close = !conn.keepAliveAfterResponse();
  const refusals = route.refusals;
  refusals.note(reason, head.method, head.target, level);
  conn.respond(refusals.bytes(reason, level, close), close);
}

/** A JSON answer that is not a refusal, in one write; `fields` are whole field lines. */
export function answerJson(conn: ServerConn, status: number, fields: string, body: string): void {
  const close = !conn.keepAliveAfterResponse();
  conn.respond(jsonMessage(status, fields, body, close), close);
}

function jsonMessage(status: number, fields: string, body: string, close: boolean): Buffer {
  const b = Buffer.from(body);
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${fields}content-type: application/json\r\ncontent-length: ${b.length}\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

const UNKNOWN_ROUTE = [false, true].map((close) => jsonMessage(404, '', '{"error":"unknown route"}', close));

/** The first path segment names no route. */
export function unknownRoute(conn: ServerConn): void {
  const close = !conn.keepAliveAfterResponse();
  conn.respond(UNKNOWN_ROUTE[close ? 1 : 0], close);
}

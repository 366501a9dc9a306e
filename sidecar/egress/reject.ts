/**
 * Refusals from the egress, in the inbound's convention: `x-spillway-class` (the route),
 * `x-spillway-reason`, a jittered `Retry-After` (longer at higher load levels), a short JSON body.
 */
import type { ServerResponse } from 'node:http';

export type EgressReason =
  | 'capacity'
  | 'load-level'
  | 'dedup-unavailable'
  | 'defer-unavailable'
  | 'vendor-unavailable'
  | 'vendor-timeout'
  | 'body-too-large';

export function retryAfterSeconds(loadLevel: number): number {
  return 1 + loadLevel + Math.floor(Math.random() * (1 + loadLevel));
}

export function reject(res: ServerResponse, status: number, route: string, reason: EgressReason, loadLevel: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `{"error":"refused","class":${JSON.stringify(route)},"reason":"${reason}"}`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-spillway-class': route,
    'x-spillway-reason': reason,
    'retry-after': String(retryAfterSeconds(loadLevel)),
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

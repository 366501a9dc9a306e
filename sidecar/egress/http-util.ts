/** Small helpers for moving a request through the egress: header filtering and body buffering. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** The caller's remaining time for the whole send, in ms (optional). */
export const BUDGET_HEADER = 'x-spillway-timeout-ms';

/** Headers that belong to one connection, never forwarded (RFC 9110 7.6.1), plus ours. */
const DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  BUDGET_HEADER,
]);

/** Lengths of the names in DROP: only a raw name of such a length needs lower-casing to check. */
const DROP_LENGTHS = new Set([...DROP].map((n) => n.length));
const CONTENT_LENGTH = 'content-length';

/**
 * A request's headers as a vendor should get them, from Node's flat rawHeaders, with a last
 * `host` pair whose value VendorTarget.start fills in per vendor. A body kept in memory
 * (`bodyLength`) is sent with its Content-Length even when the caller sent it chunked.
 */
export function vendorRequestHeaders(raw: readonly string[], bodyLength: number | null): string[] {
  const out: string[] = [];
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (DROP_LENGTHS.has(name.length) && DROP.has(name.toLowerCase())) continue;
    if (name.length === CONTENT_LENGTH.length && name.toLowerCase() === CONTENT_LENGTH) hasLength = true;
    out.push(name, raw[i + 1]);
  }
  if (bodyLength !== null && !hasLength) out.push(CONTENT_LENGTH, String(bodyLength));
  out.push('host', '');
  return out;
}

/** A deferred send's stored headers (see forwardHeaders) in the same form, for its stored body. */
export function storedRequestHeaders(h: Readonly<Record<string, string>>, bodyLength: number): string[] {
  const out: string[] = [];
  for (const name in h) if (name !== CONTENT_LENGTH) out.push(name, h[name]);
  if (bodyLength > 0) out.push(CONTENT_LENGTH, String(bodyLength));
  out.push('host', '');
  return out;
}

/** A request's headers as a vendor should get them, as an object (for storing a deferred send). */
export function forwardHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in h) {
    if (DROP.has(name)) continue;
    const v = h[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function headerValue(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? (v[0] ?? '') : v;
}

export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/** The caller's budget header as ms, or null when absent or not a positive number. */
export function callerBudgetMs(req: IncomingMessage): number | null {
  const v = req.headers[BUDGET_HEADER];
  if (typeof v !== 'string') return null;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** Reads the whole body, or resolves null once it passes maxBytes (the rest is discarded). */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        chunks.length = 0;
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(size > maxBytes ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
    // The caller went away mid-body: there is nothing to send.
    req.on('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

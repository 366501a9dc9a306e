/** What the egress reads from a caller's request head (the engine's RequestHead) and passes on to a vendor. */
import { ascii } from '../http1/chars.js';
import { F_STRIDE, K_CONNECTION, K_CONTENT_LENGTH, K_EXPECT, K_HOP, K_HOST, K_OTHER, K_TRANSFER_ENCODING, K_UPGRADE, type RequestHead } from '../http1/head.js';

/** The caller's remaining time for the whole send, in ms (optional). */
export const BUDGET_HEADER = 'x-spillway-timeout-ms';
const BUDGET_NAME = ascii(BUDGET_HEADER);

/**
 * Field kinds never passed to a vendor: hop-by-hop (RFC 9110 §7.6.1), Host (the vendor's own
 * is set), the framing fields (the client sets its own for the body it sends) and Expect (the
 * egress answers 100-continue itself).
 */
const DROP = new Uint8Array(16);
DROP[K_HOP] = DROP[K_CONNECTION] = DROP[K_UPGRADE] = DROP[K_HOST] = DROP[K_CONTENT_LENGTH] = DROP[K_TRANSFER_ENCODING] = DROP[K_EXPECT] = 1;

/** Names a stored (deferred) send may not carry to a vendor, whatever Kafka says. */
const STORED_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect', 'content-length', BUDGET_HEADER]);

/** Whether buf[s, e) is `lower` ignoring ASCII case (any token bytes: a configured header name may hold '_' or '^'). */
function nameIs(b: Buffer, s: number, e: number, lower: Uint8Array): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = b[s + i];
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower[i]) return false;
  }
  return true;
}

/** The value of the first field named `lowerName` (lower-case bytes), or ''. */
export function fieldValue(h: RequestHead, lowerName: Uint8Array): string {
  const f = h.fields;
  const b = h.buf;
  for (let i = 0; i < f.length; i += F_STRIDE) {
    if (nameIs(b, f[i], f[i + 1], lowerName)) return b.toString('latin1', f[i + 2], f[i + 3]);
  }
  return '';
}

/** Whether field line i is passed to a vendor. */
function passes(h: RequestHead, i: number): boolean {
  const f = h.fields;
  const k = f[i + 4];
  if (DROP[k] === 1) return false;
  const b = h.buf;
  if (nameIs(b, f[i], f[i + 1], BUDGET_NAME)) return false;
  const named = h.named;
  return named === null || k !== K_OTHER || !named.includes(b.toString('latin1', f[i], f[i + 1]).toLowerCase());
}

/** The request's fields as a vendor gets them: a flat name/value list, names as the caller wrote them. */
export function vendorFields(h: RequestHead): string[] {
  const out: string[] = [];
  const f = h.fields;
  const b = h.buf;
  for (let i = 0; i < f.length; i += F_STRIDE) if (passes(h, i)) out.push(b.toString('latin1', f[i], f[i + 1]), b.toString('latin1', f[i + 2], f[i + 3]));
  return out;
}

/** The same fields for storing a deferred send: lower-case names, repeated fields joined with ", ". */
export function storedFields(h: RequestHead): Record<string, string> {
  const out: Record<string, string> = {};
  const f = h.fields;
  const b = h.buf;
  for (let i = 0; i < f.length; i += F_STRIDE) {
    if (!passes(h, i)) continue;
    const name = b.toString('latin1', f[i], f[i + 1]).toLowerCase();
    const value = b.toString('latin1', f[i + 2], f[i + 3]);
    out[name] = name in out ? `${out[name]}, ${value}` : value;
  }
  return out;
}

/** A deferred send's stored fields (validated by defer-record.ts) as a vendor gets them. */
export function storedVendorFields(h: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const name in h) if (!STORED_DROP.has(name)) out.push(name, h[name]);
  return out;
}

/** The caller's budget header as ms, or null when absent or not a positive number. */
export function callerBudgetMs(h: RequestHead): number | null {
  const v = fieldValue(h, BUDGET_NAME);
  if (v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** The path a vendor gets from what follows the route segment: "" and "?q" become "/" and "/?q". */
export function vendorPath(rest: string): string {
  return rest === '' || rest.charCodeAt(0) === 0x3f ? '/' + rest : rest;
}

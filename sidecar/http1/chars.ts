/**
 * Byte classes of RFC 9110/9112 as lookup tables, and case-insensitive name compares on raw
 * bytes. Built once at load; the parsers index them per byte.
 */

/** tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA */
export const TOKEN = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TOKEN[ch.charCodeAt(0)] = 1;

/** field-vchar / SP / HTAB / obs-text: what a field value may hold (no NUL, CR, LF, other CTLs, DEL). */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** Request-target bytes: visible ASCII except '#' (a fragment never travels in a request). */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;
TARGET[0x23] = 0;

/** Hex digit values, -1 for anything else. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const COMMA = 0x2c;

/**
 * Whether buf[s, s + lower.length) equals `lower` ignoring ASCII case. `lower` holds only
 * lower-case letters, digits and '-', and buf holds token bytes (already validated), so `| 0x20`
 * folds case without aliasing.
 */
export function bytesEqualLower(buf: Buffer, s: number, e: number, lower: Uint8Array): boolean {
  const n = lower.length;
  if (e - s !== n) return false;
  for (let i = 0; i < n; i++) if ((buf[s + i] | 0x20) !== lower[i]) return false;
  return true;
}

/** Same, for a prefix. */
export function startsWithLower(buf: Buffer, s: number, e: number, lower: Uint8Array): boolean {
  const n = lower.length;
  if (e - s < n) return false;
  for (let i = 0; i < n; i++) if ((buf[s + i] | 0x20) !== lower[i]) return false;
  return true;
}

export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * Splits a comma-separated list of tokens in buf[s, e) (OWS around elements, empty elements
 * skipped, RFC 9110 §5.6.1) and calls `each` with the bounds of each element; false when an
 * element is not a single token.
 */
export function forEachToken<C>(ctx: C, buf: Buffer, s: number, e: number, each: (ctx: C, buf: Buffer, s: number, e: number) => boolean): boolean {
  let i = s;
  while (i < e) {
    while (i < e && (buf[i] === SP || buf[i] === HTAB || buf[i] === COMMA)) i++;
    if (i >= e) break;
    const ts = i;
    while (i < e && TOKEN[buf[i]] === 1) i++;
    const te = i;
    if (te === ts) return false;
    while (i < e && (buf[i] === SP || buf[i] === HTAB)) i++;
    if (i < e && buf[i] !== COMMA) return false;
    if (!each(ctx, buf, ts, te)) return false;
  }
  return true;
}

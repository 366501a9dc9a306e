/**
 * Request-target path normalisation (issue 10 item 1): the inbound classifier must see the path
 * the app will route, so the path is put in one normal form before classification and the app
 * is sent that form. Percent-encoded unreserved bytes are decoded (RFC 3986 §2.3, before dot
 * segments, so `%2e%2e` is `..`), the hex of other escapes is upper-cased (§6.2.2.1), runs of
 * slashes become one, dot segments are removed (§5.2.4). Refused (null): `..` above the root,
 * an encoded `/`, `\` or NUL, a raw `\` or `;`, a malformed escape. The query is never touched.
 * Frameworks disagree on each refused spelling (see docs/sidecar-data-plane.md), so no single
 * reading of it is safe.
 *
 * Cost: firstAbnormal() is one scan that allocates nothing; only a target it flags is rebuilt,
 * by normalize(), from the segment where the first oddity is (what precedes it is already normal).
 */

/** Byte classes of the fast scan; 0: any other byte. */
const C_SLASH = 1;
const C_DOT = 2;
/** '%', ';', '\': always take the slow path. */
const C_SPECIAL = 3;
const C_QUERY = 4;

const CLASS = new Uint8Array(256);
CLASS[0x2f] = C_SLASH;
CLASS[0x2e] = C_DOT;
CLASS[0x25] = CLASS[0x3b] = CLASS[0x5c] = C_SPECIAL;
CLASS[0x3f] = C_QUERY;

/** RFC 3986 unreserved: ALPHA DIGIT - . _ ~ (decoded when percent-encoded). */
const UNRESERVED = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) UNRESERVED[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) UNRESERVED[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) UNRESERVED[c] = 1;
for (const ch of '-._~') UNRESERVED[ch.charCodeAt(0)] = 1;

/** Hex digit values, -1 for anything else. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;
const UPPER_HEX = Uint8Array.from('0123456789ABCDEF', (c) => c.charCodeAt(0));

const SLASH = 0x2f;
const DOT = 0x2e;
const QUERY = 0x3f;

/** Whether b[i] (i < e) ends a path segment: '/', '?' or the end. */
function segmentEnd(b: Buffer, i: number, e: number): boolean {
  return i === e || b[i] === SLASH || b[i] === QUERY;
}

/**
 * The first byte of the origin-form target b[s, e) (b[s] is '/') at which the path is not in
 * normal form (or must be refused), or -1 when it is normal (then the target is used as it came).
 * Stops at the query.
 */
export function firstAbnormal(b: Buffer, s: number, e: number): number {
  let prev = 0;
  for (let i = s; i < e; i++) {
    const c = b[i];
    switch (CLASS[c]) {
      case C_SLASH:
        if (prev === SLASH) return i;
        break;
      case C_DOT:
        // "." or ".." as a whole segment; ".well-known" and "a.b" are normal.
        if (prev === SLASH && (segmentEnd(b, i + 1, e) || (b[i + 1] === DOT && segmentEnd(b, i + 2, e)))) return i;
        break;
      case C_SPECIAL:
        return i;
      case C_QUERY:
        return -1;
    }
    prev = c;
  }
  return -1;
}

/**
 * The normal form of the origin-form target b[s, e) whose first oddity is at `at`
 * (firstAbnormal's answer), the query appended as it came; null when it must be refused.
 */
export function normalize(b: Buffer, s: number, e: number, at: number): string | null {
  let pe = at;
  while (pe < e && b[pe] !== QUERY) pe++;
  // The segments before the one holding `at` are normal: copied as they are.
  let k = at - 1;
  while (b[k] !== SLASH) k--;
  // Decoding only shrinks, so the path never outgrows its input.
  const out = Buffer.allocUnsafe(pe - s);
  let o = b.copy(out, 0, s, k);
  let i = k;
  while (i < pe) {
    // b[i] is '/': one segment, up to the next '/' or the end of the path.
    const segStart = o;
    out[o++] = SLASH;
    i++;
    while (i < pe && b[i] !== SLASH) {
      const c = b[i];
      if (c === 0x25) {
        if (i + 2 >= pe) return null;
        const hi = HEX[b[i + 1]];
        const lo = HEX[b[i + 2]];
        if (hi < 0 || lo < 0) return null;
        const v = hi * 16 + lo;
        if (UNRESERVED[v] === 1) out[o++] = v;
        else if (v === SLASH || v === 0 || v === 0x5c) return null;
        else {
          out[o++] = 0x25;
          out[o++] = UPPER_HEX[hi];
          out[o++] = UPPER_HEX[lo];
        }
        i += 3;
      } else if (c === 0x3b || c === 0x5c) {
        return null;
      } else {
        out[o++] = c;
        i++;
      }
    }
    const last = i >= pe;
    const n = o - segStart - 1;
    if (n === 0) {
      // An empty segment: a run of slashes becomes one; a trailing slash stays.
      if (!last) o = segStart;
    } else if (n === 1 && out[segStart + 1] === DOT) {
      o = segStart;
      if (last) out[o++] = SLASH;
    } else if (n === 2 && out[segStart + 1] === DOT && out[segStart + 2] === DOT) {
      // ".." removes the segment before it; above the root there is none: refused, not clamped.
      if (segStart === 0) return null;
      o = out.lastIndexOf(SLASH, segStart - 1);
      if (last) out[o++] = SLASH;
    }
  }
  const path = out.toString('latin1', 0, o);
  return pe === e ? path : path + b.toString('latin1', pe, e);
}

/** For tests and `spillway explain`: the normal form of an origin-form target string, or null to refuse. */
export function normalizeTarget(target: string): string | null {
  if (target === '*' || target.charCodeAt(0) !== SLASH) return target;
  const b = Buffer.from(target, 'latin1');
  const at = firstAbnormal(b, 0, b.length);
  return at < 0 ? target : normalize(b, 0, b.length, at);
}

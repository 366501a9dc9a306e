/**
 * Header rewriting for the inbound proxy, on Node's flat rawHeaders arrays (no per-header
 * objects): hop-by-hop headers are dropped (RFC 9110 §7.6.1), headers named in Connection too,
 * x-forwarded-for gets the client address appended and x-forwarded-proto is set when absent.
 * Names are lower-cased only when their length could make them interesting.
 */

/** Hop-by-hop on both legs. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
/** Lengths worth lower-casing for (hop-by-hop names, transfer-encoding, x-forwarded-*). */
const INTERESTING_LENGTHS = new Set([...HOP, 'transfer-encoding', 'x-forwarded-for', 'x-forwarded-proto'].map((n) => n.length));
/** Connection tokens that name no header to drop. */
const PLAIN_CONNECTION = new Set(['keep-alive', 'close', 'upgrade']);

/** Extra header names the Connection header lists (rare), lower-cased; null when none. */
function connectionNamed(raw: readonly string[]): Set<string> | null {
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length !== 10 || (name !== 'Connection' && name !== 'connection' && name.toLowerCase() !== 'connection')) continue;
    const value = raw[i + 1];
    // The usual case, "keep-alive" or "close", names nothing: no split.
    if (PLAIN_CONNECTION.has(value) || PLAIN_CONNECTION.has(value.toLowerCase())) continue;
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '' && !PLAIN_CONNECTION.has(t)) (named ??= new Set()).add(t);
    }
  }
  return named;
}

/**
 * Headers for the upstream request. Transfer-Encoding is kept: Node re-frames a chunked body
 * itself when the header says chunked. For an upgrade, Connection/Upgrade are put back.
 */
export function upstreamRequestHeaders(raw: readonly string[], clientAddress: string | undefined, upgrade: string | null): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  let xff: string | null = null;
  let hasProto = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (INTERESTING_LENGTHS.has(name.length) || named !== null) {
      const lower = name.toLowerCase();
      if (HOP.has(lower) || (named !== null && named.has(lower))) continue;
      if (lower === 'x-forwarded-for') {
        xff = xff === null ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
        continue;
      }
      if (lower === 'x-forwarded-proto') hasProto = true;
    }
    out.push(name, raw[i + 1]);
  }
  const addr = clientAddress ?? '';
  out.push('x-forwarded-for', xff === null ? addr : `${xff}, ${addr}`);
  if (!hasProto) out.push('x-forwarded-proto', 'http');
  if (upgrade !== null) out.push('connection', 'upgrade', 'upgrade', upgrade);
  return out;
}

/** Headers for the client response: hop-by-hop and Transfer-Encoding dropped (Node frames the body for the client). */
export function clientResponseHeaders(raw: readonly string[]): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (INTERESTING_LENGTHS.has(name.length) || named !== null) {
      const lower = name.toLowerCase();
      if (HOP.has(lower) || lower === 'transfer-encoding' || (named !== null && named.has(lower))) continue;
    }
    out.push(name, raw[i + 1]);
  }
  return out;
}

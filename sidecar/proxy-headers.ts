/**
 * Response header filtering on Node's flat rawHeaders arrays (no per-header objects), for the
 * one leg still on node's HTTP stack, the egress's https:// vendors (egress/vendor-https.ts):
 * hop-by-hop headers are dropped (RFC 9110 §7.6.1), headers named in Connection too — the rules
 * http1/rewrite.ts applies to raw heads. Names are lower-cased only when their length could
 * make them interesting.
 */

/** Hop-by-hop on both legs. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
/** Lengths worth lower-casing for (hop-by-hop names, transfer-encoding). */
const INTERESTING_LENGTHS = new Set([...HOP, 'transfer-encoding'].map((n) => n.length));
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

/** Headers for the caller's response: hop-by-hop and Transfer-Encoding dropped (the egress frames the body for the caller). */
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

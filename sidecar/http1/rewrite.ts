/**
 * The heads the proxy writes, assembled from the parsed ones with one allocation and runs of
 * the original bytes copied as they are: hop-by-hop fields and the fields Connection names are
 * dropped (RFC 9110 §7.6.1), client x-spillway-* fields are dropped (the sidecar alone sets
 * them), x-forwarded-for gets the client address appended, x-forwarded-proto is set when absent,
 * and the sidecar's x-spillway-class / x-spillway-load-level are added. The egress relays its
 * http:// vendors' answers with clientResponseHead too (its https:// vendors' through
 * sidecar/proxy-headers.ts, the same rules on node's header arrays).
 */
import {
  F_STRIDE,
  K_CONNECTION,
  K_HOP,
  K_HOST,
  K_OTHER,
  K_SPILLWAY,
  K_TRANSFER_ENCODING,
  K_UPGRADE,
  K_XFF,
  K_XFP,
  type Head,
  type RequestHead,
  type ResponseHead,
} from './head.js';

/** Field kinds dropped from a forwarded request (x-forwarded-for is merged and re-added). */
const REQUEST_DROP = new Uint8Array(16);
REQUEST_DROP[K_HOP] = REQUEST_DROP[K_CONNECTION] = REQUEST_DROP[K_UPGRADE] = REQUEST_DROP[K_SPILLWAY] = REQUEST_DROP[K_XFF] = 1;
/** Field kinds dropped from a relayed response. */
const RESPONSE_DROP = new Uint8Array(16);
RESPONSE_DROP[K_HOP] = RESPONSE_DROP[K_CONNECTION] = RESPONSE_DROP[K_UPGRADE] = 1;
/** ... and when the body is de-chunked for an HTTP/1.0 client. */
const RESPONSE_DROP_TE = RESPONSE_DROP.slice();
RESPONSE_DROP_TE[K_TRANSFER_ENCODING] = 1;

const CRLF = '\r\n';

/** Extra fields of the forwarded request besides the client's own. */
export interface ForwardInfo {
  clientAddress: string;
  className: string;
  loadLevel: number;
  /** Host for an HTTP/1.0 request that sent none. */
  defaultHost: string;
}

/** The request head to send upstream (HTTP/1.1; an upgrade keeps Connection/Upgrade). */
export function upstreamRequestHead(h: RequestHead, info: ForwardInfo): Buffer {
  const b = h.buf;
  const f = h.fields;
  const dropHost = h.authority !== null;
  let xff: string | null = null;
  let hasProto = false;
  for (let i = 0; i < f.length; i += F_STRIDE) {
    const k = f[i + 4];
    if (k === K_XFF) xff = xff === null ? b.toString('latin1', f[i + 2], f[i + 3]) : `${xff}, ${b.toString('latin1', f[i + 2], f[i + 3])}`;
    else if (k === K_XFP) hasProto = true;
  }
  // The request line is copied as it came unless it must change (HTTP/1.0, absolute-form, a normalised path).
  const lineAsIs = h.minor === 1 && !h.targetRewritten;
  const line = lineAsIs ? '' : `${h.method} ${h.target} HTTP/1.1${CRLF}`;
  let tail = '';
  if (dropHost) tail += `host: ${h.authority}${CRLF}`;
  else if (h.hostCount === 0) tail += `host: ${info.defaultHost}${CRLF}`;
  tail += `x-forwarded-for: ${xff === null ? info.clientAddress : `${xff}, ${info.clientAddress}`}${CRLF}`;
  if (!hasProto) tail += `x-forwarded-proto: http${CRLF}`;
  tail += `x-spillway-class: ${info.className}${CRLF}x-spillway-load-level: ${info.loadLevel}${CRLF}`;
  if (h.upgrade) tail += `connection: upgrade${CRLF}upgrade: ${h.upgradeValue}${CRLF}`;
  tail += CRLF;
  return assemble(h, lineAsIs ? h.start : -1, line, REQUEST_DROP, dropHost, tail);
}

/**
 * The response head for the client: "HTTP/1.1", the upstream's status and reason, its fields
 * without the hop-by-hop ones, and the client connection's own Connection field.
 */
export function clientResponseHead(r: ResponseHead, dechunk: boolean, connection: string): Buffer {
  const b = r.buf;
  const line = `HTTP/1.1 ${b.toString('latin1', r.start + 9, r.reasonEnd)}${CRLF}`;
  return assemble(r, -1, line, dechunk ? RESPONSE_DROP_TE : RESPONSE_DROP, false, connection + CRLF);
}

/** The 101 relayed to the client of an upgrade: the upstream's fields as they are (they belong to the handshake). */
export function switchingProtocolsHead(r: ResponseHead): Buffer {
  const b = r.buf;
  const line = Buffer.from(`HTTP/1.1 ${b.toString('latin1', r.start + 9, r.reasonEnd)}${CRLF}`, 'latin1');
  const out = Buffer.allocUnsafe(line.length + r.end - r.fieldsStart);
  line.copy(out, 0);
  b.copy(out, line.length, r.fieldsStart, r.end);
  return out;
}

/**
 * One buffer: the start line (copied from `lineFrom` up to the fields, or the string `line`),
 * the kept field lines (contiguous runs copied at once), then `tail` (which ends the head).
 * Every string here is latin1 (bytes as they came, ASCII added), so its length is its size.
 */
function assemble(h: Head, lineFrom: number, line: string, drop: Uint8Array, dropHost: boolean, tail: string): Buffer {
  const b = h.buf;
  const f = h.fields;
  const named = h.named;
  const n = f.length;
  // Field line i spans [f[i], next field's start) or, for the last, up to the empty line.
  const fieldsEnd = h.end - 2;
  let size = (lineFrom >= 0 ? h.fieldsStart - lineFrom : line.length) + tail.length;
  for (let i = 0; i < n; i += F_STRIDE) if (keep(h, i, drop, dropHost, named)) size += (i + F_STRIDE < n ? f[i + F_STRIDE] : fieldsEnd) - f[i];
  const out = Buffer.allocUnsafe(size);
  let o = lineFrom >= 0 ? b.copy(out, 0, lineFrom, h.fieldsStart) : out.write(line, 0, 'latin1');
  let runStart = -1;
  let runEnd = -1;
  for (let i = 0; i < n; i += F_STRIDE) {
    const s = f[i];
    const e = i + F_STRIDE < n ? f[i + F_STRIDE] : fieldsEnd;
    if (!keep(h, i, drop, dropHost, named)) continue;
    if (s === runEnd) runEnd = e;
    else {
      if (runStart >= 0) o += b.copy(out, o, runStart, runEnd);
      runStart = s;
      runEnd = e;
    }
  }
  if (runStart >= 0) o += b.copy(out, o, runStart, runEnd);
  out.write(tail, o, 'latin1');
  return out;
}

function keep(h: Head, i: number, drop: Uint8Array, dropHost: boolean, named: string[] | null): boolean {
  const f = h.fields;
  const k = f[i + 4];
  if (drop[k] === 1 || (dropHost && k === K_HOST)) return false;
  if (named === null || k !== K_OTHER) return true;
  return !named.includes(h.buf.toString('latin1', f[i], f[i + 1]).toLowerCase());
}

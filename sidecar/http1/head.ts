/**
 * Strict parsers for HTTP/1.1 message heads (RFC 9112 §2-§6), on the raw bytes of a complete
 * head (request or status line, field lines, empty line). Field lines are not copied into
 * objects: each is kept as offsets into the buffer with a kind code for the few names the proxy
 * acts on, and the values the pipeline needs are decoded once. Anything ambiguous is refused:
 * a proxy that reads a message differently from the app behind it is a request-smuggling hole.
 */
import { ascii, bytesEqualLower, COLON, CR, FIELD_VALUE, forEachToken, HTAB, LF, SP, startsWithLower, TARGET, TOKEN } from './chars.js';
import { firstAbnormal, normalize } from './target.js';

/** Kinds of field names the proxy acts on; everything else is K_OTHER and passes through. */
export const K_OTHER = 0;
/** Hop-by-hop (RFC 9110 §7.6.1) and not otherwise interpreted: dropped on both legs. */
export const K_HOP = 1;
export const K_XFF = 2;
export const K_XFP = 3;
/** x-spillway-*: set by the sidecar alone, never passed on from a client. */
export const K_SPILLWAY = 4;
export const K_HOST = 5;
export const K_CONTENT_LENGTH = 6;
export const K_TRANSFER_ENCODING = 7;
export const K_CONNECTION = 8;
export const K_UPGRADE = 9;
export const K_EXPECT = 10;

const N_TE = ascii('te');
const N_HOST = ascii('host');
const N_EXPECT = ascii('expect');
const N_UPGRADE = ascii('upgrade');
const N_TRAILER = ascii('trailer');
const N_CONNECTION = ascii('connection');
const N_KEEP_ALIVE = ascii('keep-alive');
const N_CONTENT_LENGTH = ascii('content-length');
const N_PROXY_CONNECTION = ascii('proxy-connection');
const N_TRANSFER_ENCODING = ascii('transfer-encoding');
const N_XFF = ascii('x-forwarded-for');
const N_XFP = ascii('x-forwarded-proto');
const N_PROXY_AUTHENTICATE = ascii('proxy-authenticate');
const N_PROXY_AUTHORIZATION = ascii('proxy-authorization');
const P_SPILLWAY = ascii('x-spillway-');
const V_CHUNKED = ascii('chunked');
const V_CLOSE = ascii('close');
const V_100_CONTINUE = ascii('100-continue');
const S_HTTP = ascii('http://');

function kindOf(b: Buffer, s: number, e: number): number {
  switch (e - s) {
    case 2:
      return bytesEqualLower(b, s, e, N_TE) ? K_HOP : K_OTHER;
    case 4:
      return bytesEqualLower(b, s, e, N_HOST) ? K_HOST : K_OTHER;
    case 6:
      return bytesEqualLower(b, s, e, N_EXPECT) ? K_EXPECT : K_OTHER;
    case 7:
      if (bytesEqualLower(b, s, e, N_UPGRADE)) return K_UPGRADE;
      return bytesEqualLower(b, s, e, N_TRAILER) ? K_HOP : K_OTHER;
    case 10:
      if (bytesEqualLower(b, s, e, N_CONNECTION)) return K_CONNECTION;
      return bytesEqualLower(b, s, e, N_KEEP_ALIVE) ? K_HOP : K_OTHER;
    case 14:
      return bytesEqualLower(b, s, e, N_CONTENT_LENGTH) ? K_CONTENT_LENGTH : K_OTHER;
    case 15:
      return bytesEqualLower(b, s, e, N_XFF) ? K_XFF : startsWithLower(b, s, e, P_SPILLWAY) ? K_SPILLWAY : K_OTHER;
    case 16:
      return bytesEqualLower(b, s, e, N_PROXY_CONNECTION) ? K_HOP : startsWithLower(b, s, e, P_SPILLWAY) ? K_SPILLWAY : K_OTHER;
    case 17:
      if (bytesEqualLower(b, s, e, N_TRANSFER_ENCODING)) return K_TRANSFER_ENCODING;
      if (bytesEqualLower(b, s, e, N_XFP)) return K_XFP;
      return startsWithLower(b, s, e, P_SPILLWAY) ? K_SPILLWAY : K_OTHER;
    case 18:
      return bytesEqualLower(b, s, e, N_PROXY_AUTHENTICATE) ? K_HOP : startsWithLower(b, s, e, P_SPILLWAY) ? K_SPILLWAY : K_OTHER;
    case 19:
      return bytesEqualLower(b, s, e, N_PROXY_AUTHORIZATION) ? K_HOP : startsWithLower(b, s, e, P_SPILLWAY) ? K_SPILLWAY : K_OTHER;
    default:
      return e - s > 11 && startsWithLower(b, s, e, P_SPILLWAY) ? K_SPILLWAY : K_OTHER;
  }
}

/** Five numbers per field line in Head.fields: name start, name end (the colon), value start, value end (OWS trimmed), kind. */
export const F_STRIDE = 5;

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
/** Responses only: the body runs until the upstream closes. */
export const BODY_CLOSE = 3;

/** What both kinds of head share: the bytes, the field lines, and the framing they declare. */
export class Head {
  buf: Buffer = EMPTY;
  /** First byte of the head. */
  start = 0;
  /** First byte of the first field line (just after the start line). */
  fieldsStart = 0;
  /** Just after the empty line that ends the head. */
  end = 0;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor = 1;
  readonly fields: number[] = [];
  bodyKind = BODY_NONE;
  contentLength = 0;
  /** The head says the connection stays open after this message (version and Connection). */
  keepAlive = true;
  /** Lower-cased names listed in Connection besides close/keep-alive/upgrade (dropped when forwarding); rare. */
  named: string[] | null = null;
  /** Connection lists "upgrade". */
  upgradeToken = false;
  /** The Upgrade field's value, if any. */
  upgradeValue: string | null = null;
  protected clCount = 0;
  protected teSeen = false;
  protected teChunked = false;
  protected teBad = false;
  protected keepAliveToken = false;
  protected closeToken = false;

  get fieldCount(): number {
    return this.fields.length / F_STRIDE;
  }

  /** Whether a field `lowerName` (lower-case bytes) has exactly `value` (after OWS trimming). */
  hasValue(lowerName: Uint8Array, value: string): boolean {
    const f = this.fields;
    const b = this.buf;
    for (let i = 0; i < f.length; i += F_STRIDE) {
      if (!bytesEqualLower(b, f[i], f[i + 1], lowerName)) continue;
      const vs = f[i + 2];
      const n = f[i + 3] - vs;
      if (n !== value.length) continue;
      let j = 0;
      while (j < n && b[vs + j] === value.charCodeAt(j)) j++;
      if (j === n) return true;
    }
    return false;
  }

  /** The first value of field `lowerName` (lower-case bytes), OWS-trimmed; null when absent. */
  value(lowerName: Uint8Array): string | null {
    const f = this.fields;
    for (let i = 0; i < f.length; i += F_STRIDE) {
      if (bytesEqualLower(this.buf, f[i], f[i + 1], lowerName)) return this.buf.toString('latin1', f[i + 2], f[i + 3]);
    }
    return null;
  }

  has(lowerName: Uint8Array): boolean {
    const f = this.fields;
    for (let i = 0; i < f.length; i += F_STRIDE) if (bytesEqualLower(this.buf, f[i], f[i + 1], lowerName)) return true;
    return false;
  }

  protected reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.fields.length = 0;
    this.bodyKind = BODY_NONE;
    this.contentLength = 0;
    this.named = null;
    this.upgradeToken = false;
    this.upgradeValue = null;
    this.clCount = 0;
    this.teSeen = this.teChunked = this.teBad = false;
    this.keepAliveToken = this.closeToken = false;
  }

  /**
   * Parses the field lines from `pos` to the empty line; 0, or 400 (malformed) / 431 (too many).
   * Every line is `token ":" OWS value OWS CRLF`: a line starting with whitespace (obs-fold),
   * whitespace or any non-token byte before the colon, a control byte in the value, a CR not
   * followed by LF and a LF not preceded by CR are all refused.
   */
  protected parseFields(pos: number, maxFields: number): number {
    const b = this.buf;
    const last = this.end - 2;
    const f = this.fields;
    while (pos < last) {
      const ns = pos;
      while (TOKEN[b[pos]] === 1) pos++;
      if (pos === ns || b[pos] !== COLON) return 400;
      const ne = pos++;
      while (b[pos] === SP || b[pos] === HTAB) pos++;
      const vs = pos;
      while (b[pos] !== CR) {
        if (FIELD_VALUE[b[pos]] !== 1) return 400;
        pos++;
      }
      if (b[pos + 1] !== LF) return 400;
      let ve = pos;
      while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
      pos += 2;
      if (f.length >= maxFields * F_STRIDE) return 431;
      const kind = kindOf(b, ns, ne);
      f.push(ns, ne, vs, ve, kind);
      if (kind >= K_CONTENT_LENGTH && !this.framingField(kind, vs, ve)) return 400;
    }
    return 0;
  }

  /** Content-Length, Transfer-Encoding, Connection, Upgrade: decoded as they are met. */
  private framingField(kind: number, vs: number, ve: number): boolean {
    const b = this.buf;
    switch (kind) {
      case K_CONTENT_LENGTH: {
        // One field, 1*DIGIT, below 2^53: no lists, no signs, no whitespace inside.
        if (++this.clCount > 1 || ve === vs || ve - vs > 15) return false;
        let n = 0;
        for (let i = vs; i < ve; i++) {
          const d = b[i] - 0x30;
          if (d < 0 || d > 9) return false;
          n = n * 10 + d;
        }
        this.contentLength = n;
        return true;
      }
      case K_TRANSFER_ENCODING:
        this.teSeen = true;
        return forEachToken(this, b, vs, ve, onCoding) && !this.teBad;
      case K_CONNECTION:
        return forEachToken(this, b, vs, ve, onConnectionToken);
      case K_UPGRADE:
        this.upgradeValue = b.toString('latin1', vs, ve);
        return true;
      default:
        return true;
    }
  }

  /** After the fields: the framing they declare (shared rules; requests and responses add their own). */
  protected settleFraming(): void {
    this.keepAlive = this.minor === 1 ? !this.closeToken : this.keepAliveToken && !this.closeToken;
    if (this.teSeen) this.bodyKind = this.teChunked ? BODY_CHUNKED : BODY_CLOSE;
    else if (this.clCount === 1) this.bodyKind = this.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
  }

  /** @internal for onCoding/onConnectionToken */
  coding(s: number, e: number): boolean {
    // chunked must be the final coding, and only once.
    if (this.teChunked) this.teBad = true;
    if (bytesEqualLower(this.buf, s, e, V_CHUNKED)) this.teChunked = true;
    return true;
  }

  /** @internal */
  connectionToken(s: number, e: number): boolean {
    const b = this.buf;
    if (bytesEqualLower(b, s, e, V_CLOSE)) this.closeToken = true;
    else if (bytesEqualLower(b, s, e, N_KEEP_ALIVE)) this.keepAliveToken = true;
    else if (bytesEqualLower(b, s, e, N_UPGRADE)) this.upgradeToken = true;
    else (this.named ??= []).push(b.toString('latin1', s, e).toLowerCase());
    return true;
  }
}

function onCoding(h: Head, _b: Buffer, s: number, e: number): boolean {
  return h.coding(s, e);
}
function onConnectionToken(h: Head, _b: Buffer, s: number, e: number): boolean {
  return h.connectionToken(s, e);
}

const EMPTY = Buffer.alloc(0);

export interface HeadLimits {
  maxHeaderCount: number;
  /** Put the target's path in normal form (target.ts) or refuse it; else it is kept as sent. */
  normalizeTarget?: boolean;
}

/** A parsed request head. One per request; its buffer is never reused while it lives. */
export class RequestHead extends Head {
  method = 'GET';
  /** Origin-form target (path and query) as the app will see it; '*' for OPTIONS *. */
  target = '/';
  /** target differs from the bytes sent (absolute-form reduced, or the path normalised): the request line is rewritten. */
  targetRewritten = false;
  /** The authority of an absolute-form target (it replaces Host when forwarding), else null. */
  authority: string | null = null;
  hostCount = 0;
  expectContinue = false;
  /** This request asks for a protocol switch (Connection: upgrade + Upgrade, no body). */
  upgrade = false;

  /**
   * Parses buf[start, end) (end just after CRLFCRLF). Returns 0, or the status to refuse with:
   * 400 malformed, 431 too many fields, 501 CONNECT (a reverse proxy tunnels nothing), 505 version.
   */
  parse(buf: Buffer, start: number, end: number, limits: HeadLimits): number {
    this.reset(buf, start, end);
    this.authority = null;
    this.targetRewritten = false;
    this.hostCount = 0;
    this.expectContinue = false;
    this.upgrade = false;
    let pos = start;
    while (TOKEN[buf[pos]] === 1) pos++;
    if (pos === start || buf[pos] !== SP) return 400;
    this.method = methodString(buf, start, pos);
    const ts = ++pos;
    while (TARGET[buf[pos]] === 1) pos++;
    if (pos === ts || buf[pos] !== SP) return 400;
    const te = pos++;
    const v = this.version(pos);
    if (v !== 0) return v;
    pos += 10;
    if (this.method === 'CONNECT') return 501;
    if (!this.setTarget(ts, te, limits.normalizeTarget === true)) return 400;
    this.fieldsStart = pos;
    const r = this.parseFields(pos, limits.maxHeaderCount);
    if (r !== 0) return r;
    return this.settleRequest();
  }

  /** "HTTP/1.1" or "HTTP/1.0" then CRLF; 505 for other versions, 400 for garbage. */
  private version(pos: number): number {
    const b = this.buf;
    if (b[pos] !== 0x48 || b[pos + 1] !== 0x54 || b[pos + 2] !== 0x54 || b[pos + 3] !== 0x50 || b[pos + 4] !== 0x2f) return 400;
    const major = b[pos + 5] - 0x30;
    const minor = b[pos + 7] - 0x30;
    if (major < 0 || major > 9 || b[pos + 6] !== 0x2e || minor < 0 || minor > 9 || b[pos + 8] !== CR || b[pos + 9] !== LF) return 400;
    if (major !== 1 || minor > 1) return 505;
    this.minor = minor;
    return 0;
  }

  private setTarget(ts: number, te: number, normal: boolean): boolean {
    const b = this.buf;
    if (b[ts] === 0x2f) return this.setPath(ts, te, normal);
    if (te - ts === 1 && b[ts] === 0x2a) {
      this.target = '*';
      return this.method === 'OPTIONS';
    }
    // absolute-form: only http, no userinfo; the path (or "/") is what is forwarded.
    if (!startsWithLower(b, ts, te, S_HTTP)) return false;
    const as = ts + S_HTTP.length;
    let p = as;
    while (p < te && b[p] !== 0x2f && b[p] !== 0x3f) {
      if (b[p] === 0x40) return false;
      p++;
    }
    if (p === as) return false;
    this.authority = b.toString('latin1', as, p);
    this.targetRewritten = true;
    if (p === te) this.target = '/';
    else if (b[p] === 0x3f) this.target = '/' + b.toString('latin1', p, te);
    else return this.setPath(p, te, normal);
    return true;
  }

  /** An origin-form target b[s, e) (b[s] is '/'): as sent when already normal (one scan, nothing allocated but the string it always was), else normalised or refused. */
  private setPath(s: number, e: number, normal: boolean): boolean {
    const b = this.buf;
    const at = normal ? firstAbnormal(b, s, e) : -1;
    if (at < 0) {
      this.target = b.toString('latin1', s, e);
      return true;
    }
    const t = normalize(b, s, e, at);
    if (t === null) return false;
    this.target = t;
    this.targetRewritten = true;
    return true;
  }

  private settleRequest(): number {
    const f = this.fields;
    for (let i = 4; i < f.length; i += F_STRIDE) {
      if (f[i] === K_HOST) this.hostCount++;
      else if (f[i] === K_EXPECT) this.expectContinue ||= bytesEqualLower(this.buf, f[i - 2], f[i - 1], V_100_CONTINUE);
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1 (at most one in 1.0).
    if (this.hostCount > 1 || (this.hostCount === 0 && this.minor === 1)) return 400;
    // Both framings at once, or Transfer-Encoding in HTTP/1.0: the classic smuggling set-ups.
    if (this.teSeen && (this.clCount > 0 || this.minor === 0)) return 400;
    // A request body must be delimited: a final coding other than chunked cannot be.
    if (this.teSeen && !this.teChunked) return 400;
    this.settleFraming();
    this.upgrade = this.upgradeToken && this.upgradeValue !== null && this.bodyKind === BODY_NONE;
    return 0;
  }
}

/** Common methods as constants, so the hot path does not allocate a string for them. */
function methodString(b: Buffer, s: number, e: number): string {
  const c = b[s];
  switch (e - s) {
    case 3:
      if (c === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return 'GET';
      if (c === 0x50 && b[s + 1] === 0x55 && b[s + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (c === 0x50 && b[s + 1] === 0x4f && b[s + 2] === 0x53 && b[s + 3] === 0x54) return 'POST';
      if (c === 0x48 && b[s + 1] === 0x45 && b[s + 2] === 0x41 && b[s + 3] === 0x44) return 'HEAD';
      break;
    case 6:
      if (b.toString('latin1', s, e) === 'DELETE') return 'DELETE';
      break;
  }
  return b.toString('latin1', s, e);
}

/** A parsed response head from the upstream. */
export class ResponseHead extends Head {
  status = 0;
  /** The reason phrase's bytes (may be empty). */
  reasonStart = 0;
  reasonEnd = 0;

  /**
   * Parses buf[start, end); `headRequest` says the request was HEAD. Returns 0 or 502 (a
   * response the proxy cannot relay safely).
   */
  parse(buf: Buffer, start: number, end: number, headRequest: boolean, limits: HeadLimits): number {
    this.reset(buf, start, end);
    const b = buf;
    let pos = start;
    if (b[pos] !== 0x48 || b[pos + 1] !== 0x54 || b[pos + 2] !== 0x54 || b[pos + 3] !== 0x50 || b[pos + 4] !== 0x2f || b[pos + 5] !== 0x31 || b[pos + 6] !== 0x2e) return 502;
    const minor = b[pos + 7] - 0x30;
    if ((minor !== 0 && minor !== 1) || b[pos + 8] !== SP) return 502;
    this.minor = minor;
    pos += 9;
    let status = 0;
    for (let i = 0; i < 3; i++) {
      const d = b[pos + i] - 0x30;
      if (d < 0 || d > 9) return 502;
      status = status * 10 + d;
    }
    if (status < 100) return 502;
    this.status = status;
    pos += 3;
    if (b[pos] === SP) pos++;
    else if (b[pos] !== CR) return 502;
    this.reasonStart = pos;
    while (b[pos] !== CR) {
      if (FIELD_VALUE[b[pos]] !== 1) return 502;
      pos++;
    }
    if (b[pos + 1] !== LF) return 502;
    this.reasonEnd = pos;
    pos += 2;
    this.fieldsStart = pos;
    if (this.parseFields(pos, limits.maxHeaderCount) !== 0) return 502;
    if (this.teSeen && this.clCount > 0) return 502;
    this.settleFraming();
    // RFC 9112 §6.3: these never have a body, whatever the fields say.
    if (headRequest || status < 200 || status === 204 || status === 304) this.bodyKind = BODY_NONE;
    else if (!this.teSeen && this.clCount === 0) this.bodyKind = BODY_CLOSE;
    // A close-delimited body ends the connection.
    if (this.bodyKind === BODY_CLOSE) this.keepAlive = false;
    return 0;
  }
}

/**
 * How a deferred send is laid out in Kafka: one record per send on `spillway.deferred.<route>`,
 * keyed by the idempotency key, the body as the value, everything else in headers (so the
 * records can be read and re-driven by hand with any Kafka tool).
 */
import type { DeferredSend } from './contracts.js';
import type { InRecord, OutRecord } from './kafka.js';

export const DEFERRED_TOPIC_PREFIX = 'spillway.deferred.';
export const DEAD_LETTER_TOPIC_PREFIX = 'spillway.dead-letter.';

export type DeadLetterReason = 'expired' | 'attempts-exhausted' | 'failed' | 'malformed';

export const deferredTopic = (route: string): string => DEFERRED_TOPIC_PREFIX + route;
export const deadLetterTopic = (route: string): string => DEAD_LETTER_TOPIC_PREFIX + route;
export const drainerGroupId = (target: string): string => `spillway-drainer-${target}`;

/** A deferred send as read back, with the bookkeeping the drainer needs. */
export interface StoredSend {
  send: DeferredSend;
  /** Epoch ms after which the send is dead-lettered as expired. */
  expiresAt: number;
  /** Epoch ms before which a re-queued send is not replayed (0: at once). */
  retryAt: number;
}

export function encodeSend(send: DeferredSend, expiresAt: number, retryAt = 0): OutRecord {
  const headers: Record<string, string> = {
    route: send.route,
    method: send.method,
    path: send.path,
    headers: JSON.stringify(send.headers),
    'first-seen': String(send.firstSeenMs),
    'expires-at': String(expiresAt),
    attempts: String(send.attempts),
  };
  if (retryAt > 0) headers['retry-at'] = String(retryAt);
  return { key: send.key === '' ? null : send.key, value: send.body, headers };
}

/** The record as it goes to the dead-letter topic: unchanged, plus why (and, when malformed, what) and when. */
export function deadLetterRecord(record: InRecord, reason: DeadLetterReason, nowMs: number, error?: string): OutRecord {
  const headers: Record<string, string> = { ...record.headers, reason, 'dead-lettered-at': String(nowMs) };
  if (error !== undefined) headers.error = error;
  return { key: record.key, value: record.value, headers };
}

/**
 * Limits of a stored send. Anyone who can produce to the topic can forge a record, and what
 * passes here is sent to a vendor, so every field is checked before it is replayed.
 */
/** The egress buffers at most 1 MiB of body (MAX_BUFFERED_BODY), so no genuine record is larger. */
export const MAX_DEFERRED_BODY = 1024 * 1024;
const MAX_HEADERS_JSON = 64 * 1024;
const MAX_HEADER_COUNT = 100;
const MAX_PATH = 8192;
const MAX_KEY = 1024;
/** The schema's limits (defer.maxAgeSeconds ≤ 7 days, maxAttempts ≤ 100), and a clock skew allowance. */
const MAX_AGE_MS = 7 * 86_400_000;
const MAX_ATTEMPTS = 100;
const CLOCK_SKEW_MS = 60_000;
/** retryBackoffMs never exceeds 30 s: a retry-at further ahead would park the partition for good. */
const MAX_RETRY_DELAY_MS = 30_000 + CLOCK_SKEW_MS;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What node's HTTP client sends as a header value: no CR, LF, NUL or other control character. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A path after the route segment: empty, or from `/` or `?`, visible ASCII only. */
const PATH = /^(?:[/?][\x21-\x7e]*)?$/;
const EPOCH_MS = /^\d{1,16}$/;

export type DecodeResult = { ok: true; stored: StoredSend } | { ok: false; error: string };

const bad = (error: string): DecodeResult => ({ ok: false, error });

/** An epoch-ms header: digits only (no `1e3`, `0x10`, `-1`, `NaN`, `Infinity`). */
function epochMs(v: string | undefined): number | undefined {
  return v !== undefined && EPOCH_MS.test(v) ? Number(v) : undefined;
}

/**
 * The record as a deferred send of `topicRoute`, or what is wrong with it (field names and
 * limits only, never its bytes: the message goes into logs and the dead-letter record).
 */
export function decodeSend(record: InRecord, topicRoute: string, nowMs: number): DecodeResult {
  const h = record.headers;
  if (record.value.length > MAX_DEFERRED_BODY) return bad(`body: ${record.value.length} bytes, over ${MAX_DEFERRED_BODY}`);
  if (h.route !== topicRoute) return bad(h.route === undefined ? 'route: missing' : 'route: not the route of its topic');
  if (h.method === undefined || h.method.length > 32 || !TOKEN.test(h.method)) return bad('method: missing or not an HTTP token');
  if (h.path === undefined || h.path.length > MAX_PATH || !PATH.test(h.path)) return bad('path: missing, too long, or with characters a request line cannot carry (CR, LF, space, controls)');
  if (record.key !== null && record.key.length > MAX_KEY) return bad(`key: over ${MAX_KEY} characters`);

  const attempts = epochMs(h.attempts);
  if (attempts === undefined || attempts > MAX_ATTEMPTS) return bad(`attempts: not an integer in 0..${MAX_ATTEMPTS}`);
  const firstSeenMs = epochMs(h['first-seen']);
  if (firstSeenMs === undefined || firstSeenMs > nowMs + CLOCK_SKEW_MS) return bad('first-seen: not an epoch-ms time, or in the future');
  const expiresAt = epochMs(h['expires-at']);
  if (expiresAt === undefined || expiresAt < firstSeenMs || expiresAt > firstSeenMs + MAX_AGE_MS) return bad('expires-at: not an epoch-ms time within 7 days after first-seen');
  const retryAt = h['retry-at'] === undefined ? 0 : epochMs(h['retry-at']);
  if (retryAt === undefined || retryAt > nowMs + MAX_RETRY_DELAY_MS) return bad('retry-at: not an epoch-ms time within the retry backoff');

  const raw = h.headers ?? '{}';
  if (raw.length > MAX_HEADERS_JSON) return bad(`headers: over ${MAX_HEADERS_JSON} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return bad('headers: not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('headers: not a JSON object');
  const entries = Object.entries(parsed);
  if (entries.length > MAX_HEADER_COUNT) return bad(`headers: more than ${MAX_HEADER_COUNT}`);
  const headers: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!TOKEN.test(name) || name !== name.toLowerCase()) return bad('headers: a name that is not a lower-case HTTP token');
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) return bad(`headers: the value of ${name} is not a string, or carries CR, LF or a control character`);
    headers[name] = value;
  }
  return {
    ok: true,
    stored: { send: { route: topicRoute, method: h.method, path: h.path, headers, body: record.value, key: record.key ?? '', firstSeenMs, attempts }, expiresAt, retryAt },
  };
}

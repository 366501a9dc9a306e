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

/** The record as it goes to the dead-letter topic: unchanged, plus why and when. */
export function deadLetterRecord(record: InRecord, reason: DeadLetterReason, nowMs: number): OutRecord {
  return {
    key: record.key,
    value: record.value,
    headers: { ...record.headers, reason, 'dead-lettered-at': String(nowMs) },
  };
}

/** Null when the record is not a deferred send this version can replay. */
export function decodeSend(record: InRecord): StoredSend | null {
  const h = record.headers;
  const firstSeenMs = Number(h['first-seen']);
  const expiresAt = Number(h['expires-at']);
  const attempts = Number(h.attempts);
  if (!h.route || !h.method || h.path === undefined || !Number.isFinite(firstSeenMs) || !Number.isFinite(expiresAt)) return null;
  if (!Number.isInteger(attempts) || attempts < 0) return null;
  let headers: Record<string, string>;
  try {
    headers = JSON.parse(h.headers ?? '{}') as Record<string, string>;
  } catch {
    return null;
  }
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return null;
  return {
    send: { route: h.route, method: h.method, path: h.path, headers, body: record.value, key: record.key ?? '', firstSeenMs, attempts },
    expiresAt,
    retryAt: Number(h['retry-at'] ?? 0) || 0,
  };
}

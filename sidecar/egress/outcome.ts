/** How one vendor attempt is judged, and when a failed send may be tried again elsewhere. */

/**
 * success: 2xx (and 3xx: the vendor answered); failure: 5xx or 429; caller: a 4xx the caller
 * caused (not the vendor's fault); timeout / refused: no answer in time / no connection.
 * `error` is any other transport error (reset, bad response).
 */
export type AttemptOutcome = 'success' | 'failure' | 'caller' | 'timeout' | 'refused' | 'error';
export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = ['success', 'failure', 'caller', 'timeout', 'refused', 'error'];
/** Index of an outcome in ATTEMPT_OUTCOMES (for count arrays). */
export const OUTCOME_INDEX: Readonly<Record<AttemptOutcome, number>> = { success: 0, failure: 1, caller: 2, timeout: 3, refused: 4, error: 5 };

export function classifyStatus(status: number, countClientErrors: boolean): AttemptOutcome {
  if (status >= 500 || status === 429) return 'failure';
  if (status >= 400) return countClientErrors ? 'failure' : 'caller';
  return 'success';
}

/** Whether the outcome counts against the vendor. */
export function isVendorFailure(o: AttemptOutcome): boolean {
  return o === 'failure' || o === 'timeout' || o === 'refused' || o === 'error';
}

/** Errors that mean the vendor cannot be reached at all: fail over at once. */
const HARD_ERROR_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export function classifyError(code: string | undefined): AttemptOutcome {
  return code !== undefined && HARD_ERROR_CODES.has(code) ? 'refused' : 'error';
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * A send that failed may be repeated on another vendor only if repeating it cannot do harm:
 * the method is idempotent, or the caller gave an idempotency key (the vendors and our dedup
 * tell repeats apart).
 */
export function isRetrySafe(method: string, hasIdempotencyKey: boolean): boolean {
  return hasIdempotencyKey || IDEMPOTENT.has(method);
}

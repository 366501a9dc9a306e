/**
 * The one vocabulary of how an admitted or refused request ends, for the inbound exchange, the
 * upgrade and the egress send: the `outcome` label of spillway_requests_total, the
 * `x-spillway-reason` header of a refusal, and the index of the typed count arrays.
 */

/** Why the sidecar answered instead of the upstream (or vendor): the `x-spillway-reason` header. */
export const REFUSAL_REASONS = [
  'capacity',
  'load-level',
  'queue-timeout',
  'upstream-error',
  'upstream-timeout',
  'dedup-unavailable',
  'defer-unavailable',
  'vendor-unavailable',
  'vendor-timeout',
  'body-too-large',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The refusals the inbound side (HTTP and upgrade) can give. */
export const INBOUND_REFUSALS = ['capacity', 'load-level', 'queue-timeout', 'upstream-error', 'upstream-timeout'] as const;
export type InboundRefusal = (typeof INBOUND_REFUSALS)[number];
/** The refusals the egress can give. */
export const EGRESS_REFUSALS = [
  'capacity',
  'load-level',
  'dedup-unavailable',
  'defer-unavailable',
  'vendor-unavailable',
  'vendor-timeout',
  'body-too-large',
] as const;
export type EgressRefusal = (typeof EGRESS_REFUSALS)[number];

/**
 * How a request of a class ended (the `outcome` label): what the upstream made of it, or the
 * refusal that kept it from the upstream. The order is the index of the count arrays.
 */
export const OUTCOMES = ['success', 'error', 'upstream-error', 'timeout', 'aborted', 'capacity', 'load-level', 'queue-timeout'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** An Outcome as its index in OUTCOMES: what the hot path passes and counts (no string compares). */
export type OutcomeCode = number & { readonly __outcome: true };

export function outcomeCode(name: Outcome): OutcomeCode {
  return OUTCOMES.indexOf(name) as OutcomeCode;
}

export function outcomeName(code: OutcomeCode): Outcome {
  return OUTCOMES[code];
}

export const O_SUCCESS = outcomeCode('success');
export const O_ERROR = outcomeCode('error');
export const O_UPSTREAM_ERROR = outcomeCode('upstream-error');
export const O_TIMEOUT = outcomeCode('timeout');
export const O_ABORTED = outcomeCode('aborted');
export const O_CAPACITY = outcomeCode('capacity');
export const O_LOAD_LEVEL = outcomeCode('load-level');
export const O_QUEUE_TIMEOUT = outcomeCode('queue-timeout');

/** The refusal reasons that are also outcomes: decided by admission, before any upstream work (the shed rate). */
export const ADMISSION_REFUSALS = ['capacity', 'load-level', 'queue-timeout'] as const satisfies readonly (RefusalReason & Outcome)[];
export type AdmissionRefusal = (typeof ADMISSION_REFUSALS)[number];

/** The refusal reason of an admission refusal outcome (what admit() returns when it refuses). */
export function admissionRefusal(code: OutcomeCode): AdmissionRefusal {
  return OUTCOMES[code] as AdmissionRefusal;
}

/**
 * What a Shadow class counts for a request it let through: the refusal Enforce would have given
 * it (capacity, load-level, queue-timeout: one to one with the admission refusals of
 * spillway_requests_total) or the wait (queued: it would have waited for a slot; those that would
 * have waited too long are also counted queue-timeout). The `outcome` label of
 * spillway_shadow_requests_total; the order is the index of ShadowState.counts.
 */
export const SHADOW_OUTCOMES = ['capacity', 'load-level', 'queue-timeout', 'queued'] as const;
export type ShadowOutcome = (typeof SHADOW_OUTCOMES)[number];
export const S_CAPACITY = 0;
export const S_LOAD_LEVEL = 1;
export const S_QUEUE_TIMEOUT = 2;
export const S_QUEUED = 3;

/**
 * TrafficPolicy status: conditions with Kubernetes semantics (lastTransitionTime moves only
 * when the status flips) and the events a status change deserves (none on a mere resync).
 */
import { CONDITION_MESSAGE_MAX, type Condition, type TrafficPolicyStatus } from '../api/policy.js';

export const ACCEPTED = 'Accepted';
export const PROGRAMMED = 'Programmed';
/** Whether every ready pod of the target runs the sidecar (operator/protection.ts). */
export const PROTECTED = 'Protected';

export interface ConditionInput {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** The new condition list: `next` replaces the same type, keeping lastTransitionTime unless the status flipped. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  observedGeneration: number | undefined,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const cond: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: capMessage(next.message),
    lastTransitionTime: prev && prev.status === next.status ? prev.lastTransitionTime : now.toISOString(),
  };
  if (observedGeneration !== undefined) cond.observedGeneration = observedGeneration;
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

/**
 * A message within the CRD's maxLength (metav1.Condition's 32768): a policy with thousands of
 * problems must still get its status written, or the user sees none of them.
 */
export function capMessage(message: string): string {
  if (message.length <= CONDITION_MESSAGE_MAX) return message;
  const tail = ' … (truncated)';
  let cut = CONDITION_MESSAGE_MAX - tail.length;
  // Never split a surrogate pair.
  const c = message.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return message.slice(0, cut) + tail;
}

export function findCondition(status: TrafficPolicyStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export interface StatusEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * Events for what changed between two statuses: a condition that changed status or reason
 * (or, when False, its message), or a new config version.
 */
export function statusEvents(prev: TrafficPolicyStatus | undefined, next: TrafficPolicyStatus): StatusEvent[] {
  const out: StatusEvent[] = [];
  const changed = (type: string): Condition | undefined => {
    const a = findCondition(prev, type);
    const b = findCondition(next, type);
    if (!b) return undefined;
    if (a && a.status === b.status && a.reason === b.reason && (b.status === 'True' || a.message === b.message)) return undefined;
    return b;
  };
  const accepted = changed(ACCEPTED);
  if (accepted) out.push({ type: accepted.status === 'True' ? 'Normal' : 'Warning', reason: accepted.reason, message: accepted.message });
  const programmed = findCondition(next, PROGRAMMED);
  const programmedChanged = changed(PROGRAMMED);
  if (programmed?.status === 'True' && (programmedChanged || prev?.configVersion !== next.configVersion)) {
    out.push({ type: 'Normal', reason: PROGRAMMED, message: programmed.message });
  } else if (programmedChanged && programmedChanged.status !== 'True' && programmedChanged.reason !== accepted?.reason) {
    out.push({ type: 'Warning', reason: programmedChanged.reason, message: programmedChanged.message });
  }
  // Protected: an event when it turns False (which pods) and when it is True again; not for
  // every pod that joins or leaves the list while it stays False.
  const wasProtected = findCondition(prev, PROTECTED);
  const isProtected = findCondition(next, PROTECTED);
  if (isProtected && isProtected.status !== wasProtected?.status) {
    if (isProtected.status === 'False') out.push({ type: 'Warning', reason: isProtected.reason, message: isProtected.message });
    else if (wasProtected) out.push({ type: 'Normal', reason: isProtected.reason, message: isProtected.message });
  }
  return out;
}

/** Whether writing `next` would change anything a reader sees. */
export function statusEqual(a: TrafficPolicyStatus | undefined, b: TrafficPolicyStatus): boolean {
  return canonical(a ?? {}) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : val,
  );
}

/**
 * Which of a workload's ready pods run without the Spillway sidecar. The webhook fails open
 * (failurePolicy: Ignore), so a pod created while the operator was down starts unprotected; this
 * is how it becomes visible: status.unprotectedReplicas, the Protected condition, an event, a
 * metric. Pure.
 */
import type { LabelSelector, PodObject } from './kube-api.js';

/** Pods named in the condition message; the count says how many there are in all. */
const NAMED_PODS = 3;

/** Kubernetes selector semantics; an empty or missing selector selects nothing here (a workload always has one). */
export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  const exprs = selector?.matchExpressions ?? [];
  const pairs = Object.entries(selector?.matchLabels ?? {});
  if (pairs.length === 0 && exprs.length === 0) return false;
  for (const [k, v] of pairs) if (labels[k] !== v) return false;
  for (const e of exprs) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]);
    switch (e.operator) {
      case 'In':
        if (!inValues) return false;
        break;
      case 'NotIn':
        if (inValues) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // an operator we do not know selects nothing, as the API server would refuse it
    }
  }
  return true;
}

/**
 * Names of the selected ready pods: with the sidecar (in cache order: compile sorts the ones
 * it lists for a Cluster remainder) and without it (sorted, for the condition message).
 */
export function readyPods(pods: Iterable<PodObject>, selector: LabelSelector | undefined): { protected: string[]; unprotected: string[] } {
  const withSidecar: string[] = [];
  const without: string[] = [];
  for (const p of pods) if (p.ready && selectorMatches(selector, p.labels)) (p.sidecar ? withSidecar : without).push(p.metadata.name);
  return { protected: withSidecar, unprotected: without.sort() };
}

export interface ProtectedCondition {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export function protectedCondition(unprotected: readonly string[], workload: string): ProtectedCondition {
  if (unprotected.length === 0) return { status: 'True', reason: 'AllPodsProtected', message: `every ready pod of ${workload} runs the Spillway sidecar` };
  const named = unprotected.slice(0, NAMED_PODS).join(', ');
  const more = unprotected.length > NAMED_PODS ? ` and ${unprotected.length - NAMED_PODS} more` : '';
  return {
    status: 'False',
    reason: 'UnprotectedPods',
    message: `${unprotected.length} ready pod(s) of ${workload} run without the Spillway sidecar: ${named}${more} (created while the injection webhook was unreachable? delete them to recreate with it)`,
  };
}

/** Whether a pod change can change some workload's protection. */
export function protectionChanged(a: PodObject | undefined, b: PodObject | undefined): boolean {
  if (!a || !b) return true;
  return a.ready !== b.ready || a.sidecar !== b.sidecar || !sameLabels(a.labels, b.labels);
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

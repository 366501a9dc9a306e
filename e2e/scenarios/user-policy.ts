/**
 * `npm run scenario -- <name> --policy FILE`: the user's TrafficPolicy in place of the policy a
 * scenario's Spillway run would use. Loaded and validated by the rules of `spillway validate`;
 * the scenario keeps its load, its demo app and its criteria, and adapts only what the demo
 * world dictates (vendor URLs are the simulators', a control-plane edit changes the class the
 * scenario's requests fall into, found by the sidecar's classifier).
 */
import { createHash } from 'node:crypto';
import { compile } from '../../api/compile.js';
import type { TrafficPolicy, TrafficPolicySpec, TrafficPolicySpecInput } from '../../api/policy.js';
import { validateManifests } from '../../api/validate.js';
import { readFailure, readManifestBytes } from '../../lib/manifest-file.js';
import { Classifier } from '../../sidecar/classifier.js';
import type { RequestClass } from '../loadgen/index.js';

export interface UserPolicy {
  /** As given on the command line. */
  path: string;
  /** sha256 of the file's bytes, hex. */
  sha256: string;
  spec: TrafficPolicySpec;
}

/** The policy in FILE, or every reason it cannot be used (read failure, count, field problems). */
export function loadUserPolicy(file: string): { ok: true; value: UserPolicy } | { ok: false; problems: string[] } {
  let bytes: Buffer;
  try {
    bytes = readManifestBytes(file);
  } catch (err) {
    return { ok: false, problems: [`${file}: cannot read: ${readFailure(err)}`] };
  }
  const policies = validateManifests(bytes.toString('utf8')).filter((v) => !v.skipped);
  if (policies.length !== 1) return { ok: false, problems: [`${file}: ${policies.length === 0 ? 'no TrafficPolicy found' : `${policies.length} TrafficPolicies: a scenario takes one`}`] };
  const [v] = policies;
  if (v.policy === undefined) return { ok: false, problems: [`${file}: document ${v.index}: ${v.what}: invalid`, ...v.problems.map((p) => `  ${p}`)] };
  return { ok: true, value: { path: file, sha256: createHash('sha256').update(bytes).digest('hex'), spec: v.policy.spec } };
}

/** The class (and its spec field) a request of the workload falls into under spec, by the sidecar's classifier. */
export function classFor(spec: TrafficPolicySpec, rc: RequestClass): { name: string; field: string; index: number } {
  const policy: TrafficPolicy = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'user', namespace: 'scenarios' }, spec };
  const { classes } = compile(policy, 1);
  const headers = Object.fromEntries(Object.entries(rc.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const index = new Classifier(classes).classify(rc.method, rc.path, headers, false);
  const declared = index < spec.classes.length;
  return { name: classes[index].name, field: declared ? `spec.classes[${index}]` : 'spec.defaultClass', index: declared ? index : -1 };
}

/** The concurrency of a class by classFor's index (-1: the default class). */
export function classConcurrency(spec: TrafficPolicySpec, index: number): TrafficPolicySpec['defaultClass']['concurrency'] {
  return index < 0 ? spec.defaultClass.concurrency : spec.classes[index].concurrency;
}

/** A copy of spec with the concurrency limit of one class (by classFor's index) replaced. */
export function withClassLimit(spec: TrafficPolicySpec, index: number, limit: number): TrafficPolicySpec {
  const copy = structuredClone(spec);
  const c = index < 0 ? copy.defaultClass : copy.classes[index];
  c.concurrency = { ...c.concurrency, limit };
  return copy;
}

/** A limit that differs from `limit` (half of it, or 2 when it is 1): what an edit mid-scenario sets. */
export function editedLimit(limit: number): number {
  return limit > 1 ? Math.max(1, Math.floor(limit / 2)) : 2;
}

/** A copy of spec protecting the scenario's workload (the operator looks the target up). */
export function forTarget(spec: TrafficPolicySpec, targetRef: TrafficPolicySpecInput['targetRef']): TrafficPolicySpec {
  return { ...structuredClone(spec), targetRef: { kind: targetRef.kind ?? 'Deployment', name: targetRef.name } };
}

/** A copy of spec whose route `route` sends to `urls` (vendor i to urls[min(i, last)]): the simulators stand in for the vendors. */
export function withVendorUrls(spec: TrafficPolicySpec, route: string, urls: readonly string[]): TrafficPolicySpec {
  const copy = structuredClone(spec);
  for (const r of copy.routes) {
    if (r.name === route) r.vendors = r.vendors.map((v, i) => ({ ...v, url: urls[Math.min(i, urls.length - 1)] }));
  }
  return copy;
}

/**
 * The concurrency edit a control-plane scenario makes mid-run on the class one of its request
 * classes falls into: the scenario's own (by name, with its own limits), or the user's class
 * that those requests fall into (starting from the user's limit, edited to editedLimit of it).
 */
export interface LimitEdit {
  /** The class name the sidecar reports the limit under. */
  className: string;
  before: number;
  after: number;
  /** The policy with that class at `limit`. */
  spec(limit: number): TrafficPolicySpecInput;
}

export function limitEdit(user: UserPolicy | null, rc: RequestClass, own: Omit<LimitEdit, 'className'>): LimitEdit {
  if (user === null) return { className: rc.name, ...own };
  const cls = classFor(user.spec, rc);
  const before = classConcurrency(user.spec, cls.index).limit;
  const base = forTarget(user.spec, own.spec(own.before).targetRef);
  return { className: cls.name, before, after: editedLimit(before), spec: (limit) => (limit === before ? base : withClassLimit(base, cls.index, limit)) };
}

/** Why spec cannot serve the sends a vendor scenario makes to `/<route>/send` on the egress port; [] when it can. */
export function routeNeeds(spec: TrafficPolicySpec, route: string, need: { vendors: number; defer?: boolean; limit?: boolean }): string[] {
  const r = spec.routes.find((x) => x.name === route);
  const has = spec.routes.length === 0 ? 'it has no routes' : `its routes are ${spec.routes.map((x) => x.name).join(', ')}`;
  if (r === undefined) return [`needs a route named ${route}: the scenario sends to /${route}/send on the egress port; ${has}`];
  const out: string[] = [];
  if (r.vendors.length < need.vendors) out.push(`route ${route} needs at least ${need.vendors} vendors (the simulators stand in for them in order); it has ${r.vendors.length}`);
  if (need.defer && r.defer === undefined) out.push(`route ${route} needs defer: the scenario judges deferral to Kafka`);
  if (need.limit && r.concurrency === undefined) out.push(`route ${route} needs concurrency.limit: without a budget no send is ever deferred`);
  return out;
}

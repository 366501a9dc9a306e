/**
 * What the sidecar would do with one request under a policy, and why: the class (by the
 * sidecar's own Classifier, via explain()), the matcher that won and why every earlier one
 * failed, the pod's limit (compile → extraRank → effectiveLimit, as Inbound.apply does), the
 * queue, the timeout, the refusal status and the load level that sheds it. Pure: the command
 * (explain-command.ts) reads the file and prints.
 */
import { METHODS, type IncomingHttpHeaders } from 'node:http';
import { compile, effectiveLimit, extraRank } from '../api/compile.js';
import type { CompiledMatch } from '../api/config.js';
import type { Result } from '../api/validate.js';
import type { TrafficPolicy } from '../api/policy.js';
import { Classifier, parseQuery, type MatcherMiss, type MissField } from './classifier.js';
import { normalizeTarget } from './http1/target.js';

/** Bounds on what a user may describe: a request line and headers a real server would take. */
const MAX_TARGET = 8192;
const MAX_HEADERS = 100;
const MAX_HEADER_NAME = 256;
const MAX_HEADER_VALUE = 8192;
/** RFC 9110 token characters (method and field names). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export interface RequestSpec {
  method: string;
  /** The request target as sent: path and optional query string (one parseRequestLine accepted). */
  target: string;
  /** Lower-cased names; repeated fields joined with ", " (RFC 9110 §5.3). */
  headers: Record<string, string>;
  websocket: boolean;
}

/** `METHOD /path?query`: origin-form only, the form a client sends to the pod. */
export function parseRequestLine(line: string): Result<{ method: string; target: string }> {
  const m = /^(\S+) +(\S+)$/.exec(line.trim());
  if (!m) return { ok: false, error: `--request: expected "METHOD /path[?query]", got ${JSON.stringify(line)}` };
  const [, method, target] = m;
  if (!METHODS.includes(method)) return { ok: false, error: `--request: unknown method ${JSON.stringify(method)} (upper case, e.g. GET, POST)` };
  if (!target.startsWith('/')) return { ok: false, error: `--request: the target must start with "/", got ${JSON.stringify(target)}` };
  // What an HTTP/1.1 request line carries: visible ASCII only (non-ASCII is percent-encoded).
  if (!/^[\x21-\x7e]+$/.test(target)) return { ok: false, error: `--request: the target holds characters a request line cannot carry (percent-encode them): ${JSON.stringify(target)}` };
  if (target.length > MAX_TARGET) return { ok: false, error: `--request: the target is longer than ${MAX_TARGET} characters` };
  if (target.includes('#') || normalizeTarget(target) === null) {
    return {
      ok: false,
      error: `--request: the sidecar refuses this target with 400 (a "#", ".." above the root, an encoded "/", "\\" or NUL, a "\\" or ";" in the path, or a malformed %-escape): ${JSON.stringify(target)}`,
    };
  }
  return { ok: true, value: { method, target } };
}

/** `Name: value` lines into the header map the sidecar classifies on. */
export function parseHeaders(lines: readonly string[]): Result<Record<string, string>> {
  if (lines.length > MAX_HEADERS) return { ok: false, error: `--header: more than ${MAX_HEADERS} headers` };
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || name.length > MAX_HEADER_NAME) return { ok: false, error: `--header: expected "Name: value" with a valid field name, got ${JSON.stringify(line)}` };
    // eslint-disable-next-line no-control-regex
    if (value.length > MAX_HEADER_VALUE || /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return { ok: false, error: `--header ${name}: the value is too long or holds control characters` };
    const key = name.toLowerCase();
    out[key] = key in out ? `${out[key]}, ${value}` : value;
  }
  return { ok: true, value: out };
}

/** A WebSocket upgrade carries these; --websocket adds them when the user did not. */
export function withUpgradeHeaders(headers: Record<string, string>): Record<string, string> {
  return { ...headers, upgrade: headers.upgrade ?? 'websocket', connection: headers.connection ?? 'Upgrade' };
}

export interface Explained {
  /** Version of this object's shape; bumped only on incompatible changes. */
  version: 2;
  /** `namespace/name` of the policy. */
  policy: string;
  /** target as sent; path: the normalised path the classifier and the app see (http1/target.ts). */
  request: { method: string; target: string; path: string; query: Record<string, string>; headers: Record<string, string>; websocket: boolean };
  class: { index: number; name: string; field: string; priority: number };
  /** The matcher that won; null when the request fell through to the default class. */
  matched: { matcher: number; field: string; match: CompiledMatch } | null;
  /** Each matcher of the classes tried before, in order, with the first field that failed. */
  notMatched: Array<{ class: string; field: string; failed: MissField; name: string | null; want: string | boolean | null; got: string | boolean | null }>;
  limit: {
    scope: 'Pod' | 'Cluster';
    /** As declared (Cluster: for the whole workload). */
    policy: number;
    replicas: number;
    /** Per pod before the remainder: floor(policy / replicas), at least 1 (Pod scope: policy). */
    base: number;
    /** How many pods take base + 1: the first `extra` of the ready pods by name. */
    extra: number;
    podName: string | null;
    /**
     * The pod's index in the config's extraPods, as the operator would publish it for --pods
     * (it takes base + 1 where rank < extra); -1: not listed; null without --pod-name and --pods.
     */
    rank: number | null;
    /** The limit in this pod; null when it depends on the pod and --pod-name or --pods is missing. */
    pod: number | null;
  };
  /** timeoutMs is null when the class has no queue. */
  queue: { size: number; timeoutMs: number | null };
  /** Upstream timeout (504 after it); null: none. */
  timeoutMs: number | null;
  rejectStatus: number;
  /** Refused with reason load-level from this level up (its utilisation threshold); null: never by load level. */
  shed: { atLevel: number | null; utilisation: number | null };
  affectsLoadLevel: boolean;
}

export interface ExplainOptions {
  /** Ready replicas the operator divides Cluster budgets over (≥ 1). */
  replicas: number;
  podName: string | null;
  /** Names of the ready pods (with the sidecar); absent or null: unknown. */
  readyPods?: readonly string[] | null;
}

export function explainRequest(policy: TrafficPolicy, req: RequestSpec, opts: ExplainOptions): Explained {
  const readyPods = opts.readyPods ?? null;
  const config = compile(policy, opts.replicas, { readyPods: readyPods ?? [] });
  const classifier = new Classifier(config.classes, config.pathMatching);
  // As the inbound engine does: classify the normalised target (parseRequestLine refused the rest).
  const target = normalizeTarget(req.target) ?? req.target;
  const e = classifier.explain(req.method, target, req.headers as IncomingHttpHeaders, req.websocket);
  // The compiled list always ends with the default class, which matches everything.
  const c = config.classes[e.index];
  const declared = policy.spec.classes.length;
  const classField = (i: number) => (i < declared ? `spec.classes[${i}]` : 'spec.defaultClass');
  const rank = opts.podName === null || readyPods === null ? null : extraRank(config, opts.podName);
  const q = target.indexOf('?');
  return {
    version: 2,
    policy: config.policy,
    request: {
      method: req.method,
      target: req.target,
      path: q >= 0 ? target.slice(0, q) : target,
      query: { ...parseQuery(target, q) },
      headers: { ...req.headers },
      websocket: req.websocket,
    },
    class: { index: e.index, name: c.name, field: classField(e.index), priority: c.priority },
    matched: e.matcher === null ? null : { matcher: e.matcher, field: `${classField(e.index)}.match[${e.matcher}]`, match: c.match[e.matcher] },
    notMatched: e.misses.map((m: MatcherMiss) => ({
      class: config.classes[m.class].name,
      field: `${classField(m.class)}.match[${m.matcher}]`,
      failed: m.field,
      name: m.name,
      want: m.want,
      got: m.got,
    })),
    limit: {
      scope: c.scope,
      policy: c.policyLimit,
      replicas: config.readyReplicas,
      base: c.limit,
      extra: c.extra,
      podName: opts.podName,
      rank,
      pod: rank !== null ? effectiveLimit(c, rank) : c.extra === 0 ? c.limit : null,
    },
    queue: { size: c.queue.size, timeoutMs: c.queue.size > 0 ? c.queue.timeoutMs : null },
    timeoutMs: c.timeoutMs,
    rejectStatus: c.rejectStatus,
    shed: { atLevel: c.shedAtLevel, utilisation: c.shedAtLevel === null ? null : config.loadLevels.thresholds[c.shedAtLevel - 1] },
    affectsLoadLevel: c.affectsLoadLevel,
  };
}

const show = (v: string | boolean | null): string => JSON.stringify(v);

/** Why one matcher failed, in words. */
export function missReason(m: Explained['notMatched'][number]): string {
  switch (m.failed) {
    case 'method':
      return `method ${m.got} is not ${m.want}`;
    case 'websocket':
      return m.want ? 'not a WebSocket upgrade' : 'a WebSocket upgrade (wants plain requests)';
    case 'path':
      return `path ${m.got} is not ${m.want}`;
    case 'pathPrefix':
      return `path ${m.got} does not start with ${m.want}`;
    case 'headers':
      return m.got === null ? `header ${m.name} absent (wants ${show(m.want)})` : `header ${m.name} is ${show(m.got)}, not ${show(m.want)}`;
    case 'headersPresent':
      return `header ${m.name} absent`;
    case 'query':
      return m.got === null ? `query parameter ${m.name} absent (wants ${show(m.want)})` : `query parameter ${m.name} is ${show(m.got)}, not ${show(m.want)}`;
  }
}

/** A matcher as one line: `method POST, path /login, header x-login-kind: "background"`. */
export function describeMatch(m: CompiledMatch): string {
  const parts: string[] = [];
  if (m.method !== undefined) parts.push(`method ${m.method}`);
  if (m.websocket !== undefined) parts.push(m.websocket ? 'WebSocket upgrade' : 'not a WebSocket upgrade');
  if (m.path !== undefined) parts.push(`path ${m.path}`);
  if (m.pathPrefix !== undefined) parts.push(`path prefix ${m.pathPrefix}`);
  for (const [k, v] of Object.entries(m.headers ?? {})) parts.push(`header ${k}: ${show(v)}`);
  for (const k of m.headersPresent ?? []) parts.push(`header ${k} present`);
  for (const [k, v] of Object.entries(m.query ?? {})) parts.push(`query ${k}=${show(v)}`);
  return parts.join(', ');
}

function limitLine(l: Explained['limit']): string {
  if (l.scope === 'Pod') return `${l.policy} (Pod scope: in each pod)`;
  const split = `Cluster scope: ${l.policy} over ${l.replicas} replica${l.replicas === 1 ? '' : 's'}`;
  if (l.policy < l.replicas) return `1 (${split}: never below 1 per pod, so ${l.replicas} in all, more than the limit)`;
  const spread = l.extra === 0 ? `${l.base} in each pod` : `${l.base + 1} in the first ${l.extra} ready pods by name, ${l.base} in the others`;
  if (l.rank !== null && l.extra > 0) {
    const place = l.rank >= 0 ? `is number ${l.rank + 1} by name` : `is not among the first ${l.extra}`;
    return `${l.pod} (${split}: ${spread}; ${l.podName} ${place})`;
  }
  if (l.pod !== null) return `${l.pod} (${split}: ${spread})`;
  const need = l.podName === null ? '--pod-name and --pods give a pod\'s' : `--pods (the ready pods' names) gives ${l.podName}'s`;
  return `${l.base} or ${l.base + 1} (${split}: ${spread}; ${need})`;
}

/** The human form: one aligned line per fact. */
export function formatExplained(x: Explained): string[] {
  const rows: Array<[string, string]> = [];
  const headers = Object.entries(x.request.headers).map(([k, v]) => `${k}: ${v}`);
  rows.push(['policy', x.policy]);
  rows.push(['request', `${x.request.method} ${x.request.target}${x.request.websocket ? ' (WebSocket upgrade)' : ''}${headers.length ? ` with ${headers.join('; ')}` : ''}`]);
  const sentPath = x.request.target.split('?')[0];
  if (sentPath !== x.request.path) rows.push(['normalised', `path ${x.request.path} (what the sidecar classifies and the app receives)`]);
  rows.push(['class', `${x.class.name} (${x.class.field}, priority ${x.class.priority})`]);
  rows.push(['matched', x.matched === null ? 'no class matched: the default class takes the rest' : `${x.matched.field}: ${describeMatch(x.matched.match) || 'everything'}`]);
  x.notMatched.forEach((m, i) => rows.push([i === 0 ? 'not matched' : '', `${m.class} ${m.field}: ${missReason(m)}`]));
  rows.push(['pod limit', limitLine(x.limit)]);
  rows.push(['queue', x.queue.size === 0 ? 'none (refused at once when the limit is reached)' : `${x.queue.size} places, ${x.queue.timeoutMs} ms timeout`]);
  rows.push(['timeout', x.timeoutMs === null ? 'none' : `${x.timeoutMs} ms (then 504)`]);
  rows.push(['refused with', String(x.rejectStatus)]);
  rows.push(['shed at', x.shed.atLevel === null ? 'never by load level (only when the limit and queue are full)' : `load level ${x.shed.atLevel} (pod utilisation ≥ ${x.shed.utilisation})`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`);
}

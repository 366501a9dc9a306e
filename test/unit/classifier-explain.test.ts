/**
 * Classifier.explain (for `spillway explain`) against classify (the sidecar's): on random
 * policies and requests they always pick the same class, and explain's reasons are the truth
 * (every earlier matcher is listed once, with the first field that failed).
 */
import fc from 'fast-check';
import type { CompiledMatch } from '../../api/config.js';
import { compile } from '../../api/compile.js';
import { parsePolicy } from '../../api/validate.js';
import { Classifier } from '../../sidecar/classifier.js';
import { policy, request } from '../support/policy-arbitraries.js';

const RUNS = 300;

type Req = { method: string; url: string; headers: Record<string, string>; websocket: boolean };

/** A request every field of m matches, built on top of base (so other fields stay random). */
function satisfying(m: CompiledMatch, base: Req): Req {
  const r: Req = { ...base, headers: { ...base.headers } };
  const q = r.url.indexOf('?');
  let path = q >= 0 ? r.url.slice(0, q) : r.url;
  const query = q >= 0 ? r.url.slice(q + 1) : '';
  if (m.method !== undefined) r.method = m.method;
  if (m.websocket !== undefined) r.websocket = m.websocket;
  if (m.path !== undefined) path = m.path;
  if (m.pathPrefix !== undefined) path = m.pathPrefix + path.slice(1);
  for (const [k, v] of Object.entries(m.headers ?? {})) r.headers[k] = v;
  for (const k of m.headersPresent ?? []) r.headers[k] ??= '';
  const params = Object.entries(m.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  const all = [...params, ...(query ? [query] : [])].join('&');
  r.url = all ? `${path}?${all}` : path;
  return r;
}

/** Breaks one field of a request (or none): so requests land near matchers, on either side. */
function perturb(r: Req, how: number): Req {
  const out: Req = { ...r, headers: { ...r.headers } };
  switch (how % 6) {
    case 0:
      out.method = out.method === 'GET' ? 'POST' : 'GET';
      break;
    case 1:
      out.websocket = !out.websocket;
      break;
    case 2:
      out.url = `/x${out.url}`;
      break;
    case 3: {
      const k = Object.keys(out.headers)[0];
      if (k !== undefined) delete out.headers[k];
      break;
    }
    case 4:
      out.url = out.url.replace(/=[^&]*/, '=changed');
      break;
    default:
  }
  return out;
}

function classesOf(classes: unknown[]) {
  const r = parsePolicy({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p', namespace: 'n' }, spec: { targetRef: { name: 'app' }, classes } });
  if (!r.ok) throw new Error(r.error);
  return compile(r.value, 1).classes;
}

describe('Classifier.explain', () => {
  const classifier = new Classifier(
    classesOf([
      { name: 'bg', match: [{ method: 'POST', path: '/login', headers: { 'X-Login-Kind': 'background' } }], concurrency: { limit: 1 } },
      { name: 'poll', match: [{ method: 'GET', pathPrefix: '/socket.io/', query: { transport: 'polling' } }, { headersPresent: ['X-Trace'] }], concurrency: { limit: 1 } },
      { name: 'ws', match: [{ websocket: true }], concurrency: { limit: 1 } },
    ]),
  );

  it('names the winning class and matcher, and the first failing field of every earlier matcher', () => {
    expect(classifier.explain('POST', '/login', { 'x-login-kind': 'foreground' }, false)).toEqual({
      index: 3,
      matcher: null,
      misses: [
        { class: 0, matcher: 0, field: 'headers', name: 'x-login-kind', want: 'background', got: 'foreground' },
        { class: 1, matcher: 0, field: 'method', name: null, want: 'GET', got: 'POST' },
        { class: 1, matcher: 1, field: 'headersPresent', name: 'x-trace', want: null, got: null },
        { class: 2, matcher: 0, field: 'websocket', name: null, want: true, got: false },
      ],
    });
    expect(classifier.explain('GET', '/socket.io/?EIO=4&transport=websocket', { 'x-trace': '1' }, false)).toEqual({
      index: 1,
      matcher: 1,
      misses: [
        { class: 0, matcher: 0, field: 'method', name: null, want: 'POST', got: 'GET' },
        { class: 1, matcher: 0, field: 'query', name: 'transport', want: 'polling', got: 'websocket' },
      ],
    });
  });

  it('reports paths without the query string, absent headers and parameters as null, repeated headers joined', () => {
    const e = classifier.explain('POST', '/login/x?a=1', {}, false);
    expect(e.misses[0]).toEqual({ class: 0, matcher: 0, field: 'path', name: null, want: '/login', got: '/login/x' });
    expect(classifier.explain('GET', '/chat', {}, false).misses[1]).toMatchObject({ field: 'pathPrefix', want: '/socket.io/', got: '/chat' });
    expect(classifier.explain('GET', '/socket.io/', {}, false).misses[1]).toMatchObject({ field: 'query', name: 'transport', got: null });
    expect(classifier.explain('POST', '/login', { 'x-login-kind': ['a', 'b'] }, false).misses[0]).toMatchObject({ got: 'a, b' });
    expect(classifier.explain('GET', '/', {}, true)).toMatchObject({ index: 2, matcher: 0 });
  });

  test('agrees with classify on random policies and requests, near and far from their matchers', () => {
    fc.assert(
      fc.property(
        policy,
        fc.array(fc.tuple(request, fc.nat(), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 20 }),
        (p, requests) => {
          const parsed = parsePolicy(p);
          if (!parsed.ok) return;
          const { classes } = compile(parsed.value, 1);
          const classifier = new Classifier(classes);
          const matchers = classes.flatMap((c) => c.match);
          for (const [random, pick, how, near] of requests) {
            const r = near && matchers.length > 0 ? perturb(satisfying(matchers[pick % matchers.length], random), how) : random;
            const i = classifier.classify(r.method, r.url, r.headers, r.websocket);
            const e = classifier.explain(r.method, r.url, r.headers, r.websocket);
            expect(e.index).toBe(i);
            // Every matcher before the winner is accounted for, in order, and the winner is one of its class's.
            const tried = classes.slice(0, i).flatMap((c, ci) => c.match.map((_, mi) => [ci, mi]));
            if (e.matcher !== null) tried.push(...classes[i].match.slice(0, e.matcher).map((_, mi) => [i, mi]));
            expect(e.misses.map((m) => [m.class, m.matcher])).toEqual(tried);
            expect(e.matcher === null).toBe(classes[i].match.length === 0);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('a request built to fit a matcher lands in its class or an earlier one', () => {
    fc.assert(
      fc.property(policy, request, fc.nat(), (p, random, pick) => {
        const parsed = parsePolicy(p);
        if (!parsed.ok) return;
        const { classes } = compile(parsed.value, 1);
        const owners = classes.flatMap((c, ci) => c.match.map((m) => [ci, m] as const));
        if (owners.length === 0) return;
        const [owner, m] = owners[pick % owners.length];
        const r = satisfying(m, random);
        const e = new Classifier(classes).explain(r.method, r.url, r.headers, r.websocket);
        expect(e.index).toBeLessThanOrEqual(owner);
      }),
      { numRuns: RUNS },
    );
  });
});

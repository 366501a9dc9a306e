/**
 * Property tests of the policy pipeline (fast-check): whatever a user or a broken tool puts in a
 * TrafficPolicy, parsePolicy either refuses it naming the field at fault, or it compiles into a
 * config the sidecar accepts; compile never throws; every request falls into exactly one class.
 * fast-check prints the seed and the shrunk counter-example of any failure.
 */
import fc from 'fast-check';
import { compile } from '../../api/compile.js';
import { parseConfig, parsePolicy } from '../../api/validate.js';
import { Classifier } from '../../sidecar/classifier.js';

const RUNS = 300;

const label = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const path = fc.stringMatching(/^\/[a-z0-9/._-]{0,20}$/);
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS');
const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);
const headerValue = fc.stringMatching(/^[ -~]{0,12}$/);

const match = fc.record(
  {
    method,
    path,
    pathPrefix: path,
    headers: fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
    headersPresent: fc.array(headerName, { maxLength: 3 }),
    query: fc.dictionary(label, headerValue, { maxKeys: 2 }),
    websocket: fc.boolean(),
  },
  { requiredKeys: [] },
);

const classFields = {
  priority: fc.integer({ min: 0, max: 1000 }),
  concurrency: fc.record({ limit: fc.integer({ min: 1, max: 1_000_000 }), scope: fc.constantFrom('Pod', 'Cluster') }, { requiredKeys: ['limit'] }),
  queue: fc.oneof(fc.record({ size: fc.constant(0) }), fc.record({ size: fc.integer({ min: 1, max: 100_000 }), timeoutMs: fc.integer({ min: 1, max: 600_000 }) })),
  shedAtLevel: fc.integer({ min: 1, max: 3 }),
  timeoutMs: fc.integer({ min: 1, max: 3_600_000 }),
  rejectStatus: fc.constantFrom(503, 429),
  affectsLoadLevel: fc.boolean(),
};

const cls = fc.record({ name: label, match: fc.array(match, { minLength: 1, maxLength: 3 }), ...classFields }, { requiredKeys: ['name', 'match', 'concurrency'] });

const vendor = fc.record({ name: label, url: fc.constantFrom('http://a.vendors:8080', 'https://b.example/api/', 'http://10.0.0.1'), timeoutMs: fc.integer({ min: 1, max: 600_000 }) }, { requiredKeys: ['name', 'url'] });

const route = fc.record(
  {
    name: label,
    vendors: fc.array(vendor, { minLength: 1, maxLength: 3 }),
    failover: fc.record({ minSuccessRate: fc.double({ min: 0, max: 1, noNaN: true }), windowSeconds: fc.integer({ min: 1, max: 3600 }), minRequests: fc.integer({ min: 1, max: 1000 }), cooldownSeconds: fc.integer({ min: 1, max: 86_400 }) }, { requiredKeys: [] }),
    dedup: fc.record({ header: headerName, ttlSeconds: fc.integer({ min: 1, max: 86_400 }), onRedisDown: fc.constantFrom('send', 'refuse') }, { requiredKeys: [] }),
    defer: fc.record({ maxAgeSeconds: fc.integer({ min: 1, max: 86_400 }), maxAttempts: fc.integer({ min: 1, max: 100 }), drainRatePerSecond: fc.integer({ min: 1, max: 100_000 }) }, { requiredKeys: [] }),
    concurrency: fc.record({ limit: fc.integer({ min: 1, max: 1_000_000 }) }),
    shedAtLevel: fc.integer({ min: 1, max: 3 }),
    countClientErrors: fc.boolean(),
  },
  { requiredKeys: ['name', 'vendors'] },
);

/** Mostly valid policies: the generators follow the schema; duplicates and the like are left for parsePolicy to catch. */
const policy = fc.record({
  apiVersion: fc.constant('spillway.io/v1alpha1'),
  kind: fc.constant('TrafficPolicy'),
  metadata: fc.record({ name: label, namespace: label, generation: fc.integer({ min: 0, max: 1_000_000 }) }),
  spec: fc.record(
    {
      targetRef: fc.record({ kind: fc.constantFrom('Deployment', 'StatefulSet'), name: label }, { requiredKeys: ['name'] }),
      loadLevels: fc.record({ thresholds: fc.constantFrom([0.7, 0.85, 0.95], [0.5, 0.6, 1]), holdSeconds: fc.integer({ min: 0, max: 3600 }) }, { requiredKeys: [] }),
      classes: fc.array(cls, { maxLength: 6 }),
      defaultClass: fc.record(classFields, { requiredKeys: ['concurrency'] }),
      routes: fc.array(route, { maxLength: 3 }),
      warmupSeconds: fc.integer({ min: 0, max: 3600 }),
    },
    { requiredKeys: ['targetRef'] },
  ),
});

/** Any JSON a careless or hostile writer could put in a field. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1e308),
  fc.string({ maxLength: 8 }),
  fc.constant('x'.repeat(5000)),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a node of a JSON tree (objects and arrays included). */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** Replaces (or, with `extra`, adds a sibling key beside) the node at `at`. */
function mutate(doc: Json, at: (string | number)[], value: Json, extra: boolean): Json {
  const copy = structuredClone(doc);
  if (at.length === 0) return value;
  let node: any = copy;
  for (const k of at.slice(0, -1)) node = node[k];
  const last = at[at.length - 1];
  if (extra && typeof node === 'object' && node !== null && !Array.isArray(node)) node[`unknown-${String(last)}`] = value;
  else node[last] = value;
  return copy;
}

/** Each refusal is "field.path: message" pairs joined by "; ", every one naming where. */
function expectFieldPaths(error: string): void {
  for (const part of error.split('; ')) {
    if (!/^(apiVersion|kind|metadata|spec|status)(\.[A-Za-z_][\w-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*: ./.test(part)) throw new Error(`refusal without a field path: "${part}"`);
  }
}

/** The sidecar's acceptance: the document parses as a compiled config and its classifier builds. */
function sidecarAccepts(policyDoc: Json, replicas: number): void {
  const parsed = parsePolicy(policyDoc);
  if (!parsed.ok) {
    expectFieldPaths(parsed.error);
    return;
  }
  const body = compile(parsed.value, replicas);
  const config = parseConfig(JSON.parse(JSON.stringify({ ...body, version: 1 })));
  if (!config.ok) throw new Error(`compiled config refused: ${config.error}`);
  expect(config.value.classes[config.value.classes.length - 1].match).toEqual([]);
  new Classifier(config.value.classes);
}

const request = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'BREW'),
  url: fc.tuple(path, fc.option(fc.stringMatching(/^[a-z=&%0-9+]{0,16}$/))).map(([p, q]) => (q === null ? p : `${p}?${q}`)),
  headers: fc.dictionary(headerName.map((h) => h.toLowerCase()), headerValue, { maxKeys: 4 }),
  websocket: fc.boolean(),
});

describe('policy properties', () => {
  test('a generated policy is refused with field paths or compiles into a config the sidecar accepts', () => {
    fc.assert(
      fc.property(policy, fc.integer({ min: 0, max: 10_000 }), (p, replicas) => sidecarAccepts(p as unknown as Json, replicas)),
      { numRuns: RUNS },
    );
  });

  test('a mutated policy (any node replaced by junk, or an unknown key added) is refused with field paths or accepted whole', () => {
    fc.assert(
      fc.property(policy, fc.nat(), junk, fc.boolean(), fc.integer({ min: 0, max: 10_000 }), (p, pick, value, extra, replicas) => {
        const all = paths(p as unknown as Json).filter((at) => at.length > 0);
        const at = all[pick % all.length];
        sidecarAccepts(mutate(p as unknown as Json, at, value as unknown as Json, extra), replicas);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  test('compile never throws for a valid policy, whatever the replica count', () => {
    fc.assert(
      fc.property(policy, fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.constantFrom(NaN, Infinity, 2 ** 53)), (p, replicas) => {
        const parsed = parsePolicy(p);
        if (parsed.ok) compile(parsed.value, replicas);
      }),
      { numRuns: RUNS },
    );
  });

  test('every request falls into exactly one class: an index in range, the default class catching the rest', () => {
    fc.assert(
      fc.property(policy, fc.array(request, { minLength: 1, maxLength: 20 }), (p, requests) => {
        const parsed = parsePolicy(p);
        if (!parsed.ok) return;
        const { classes } = compile(parsed.value, 1);
        const classifier = new Classifier(classes);
        for (const r of requests) {
          const i = classifier.classify(r.method, r.url, r.headers, r.websocket);
          expect(Number.isInteger(i) && i >= 0 && i < classes.length).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

/**
 * Property tests of the policy pipeline (fast-check): whatever a user or a broken tool puts in a
 * TrafficPolicy, parsePolicy either refuses it naming the field at fault, or it compiles into a
 * config the sidecar accepts; compile never throws; every request falls into exactly one class;
 * Cluster per-pod limits add up to the policy limit (or to the replicas, 1 each, when it is lower).
 * fast-check prints the seed and the shrunk counter-example of any failure.
 */
import fc from 'fast-check';
import { compile, effectiveLimit, extraRank } from '../../api/compile.js';
import { parseConfig, parsePolicy } from '../../api/validate.js';
import { Classifier } from '../../sidecar/classifier.js';
import { policy, request } from '../support/policy-arbitraries.js';

const RUNS = 300;

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
  // Keys without ';': an unknown key is named in its refusal, and a "; " in it would split
  // expectFieldPaths' parts in the wrong place (the check's limit, not the refusal's).
  fc.dictionary(
    fc.string({ maxLength: 4 }).filter((k) => !k.includes(';')),
    fc.integer(),
    { maxKeys: 2 },
  ),
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

/**
 * `count` distinct pod names as a ReplicaSet makes them (`<prefix>-<5 characters>`, at most 63
 * characters), drawn from a seeded generator so 10,000 of them cost one integer to shrink.
 */
function podNames(prefix: string, count: number, seed: number): string[] {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const names = new Set<string>();
  let x = seed >>> 0 || 1;
  while (names.size < count) {
    let suffix = '';
    for (let i = 0; i < 5; i++) {
      // xorshift32
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      suffix += alphabet[(x >>> 0) % alphabet.length];
    }
    names.add(`${prefix}-${suffix}`);
  }
  return [...names];
}

const podPrefix = fc.stringMatching(/^[a-z][a-z0-9-]{0,56}$/).map((s) => s.replace(/-+$/, '') || 'p');

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

  test('Cluster per-pod limits add up to max(policy limit, replicas) for replica counts up to 10,000; Pod limits hold in each pod', () => {
    fc.assert(
      fc.property(
        policy,
        fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 10_000 })),
        fc.array(fc.integer({ min: 1, max: 30_000 }), { minLength: 1, maxLength: 4 }),
        podPrefix,
        fc.integer(),
        (p, replicas, limits, prefix, seed) => {
          const parsed = parsePolicy(p);
          if (!parsed.ok) return;
          // Limits near the replica counts (the arbitrary's go up to 10^6), every other class Cluster.
          const all = [...parsed.value.spec.classes, parsed.value.spec.defaultClass];
          all.forEach((c, i) => {
            c.concurrency.limit = limits[i % limits.length];
            if (i % 2 === 0) c.concurrency.scope = 'Cluster';
          });
          const pods = podNames(prefix, replicas, seed);
          const body = compile(parsed.value, replicas, { readyPods: pods });
          const config = parseConfig(JSON.parse(JSON.stringify({ ...body, version: 1 })));
          if (!config.ok) throw new Error(`compiled config refused: ${config.error}`);
          // What each sidecar computes (extraRank is indexOf; a map here keeps 10,000 pods linear).
          const rankOf = new Map((config.value.extraPods ?? []).map((n, i) => [n, i]));
          for (const n of pods.slice(0, 3)) expect(extraRank(config.value, n)).toBe(rankOf.get(n) ?? -1);
          for (const c of config.value.classes) {
            if (c.scope === 'Pod') {
              expect(effectiveLimit(c, rankOf.get(pods[0]) ?? -1)).toBe(c.policyLimit);
              continue;
            }
            let sum = 0;
            for (const n of pods) sum += effectiveLimit(c, rankOf.get(n) ?? -1);
            if (sum !== Math.max(c.policyLimit, replicas)) throw new Error(`${c.name}: ${c.policyLimit} over ${replicas} pods sums to ${sum}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('a pod not in the published list (ready since) takes the base: the sum over the pods never exceeds max(limit, replicas)', () => {
    fc.assert(
      fc.property(policy, fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 50 }), podPrefix, fc.integer(), (p, replicas, added, prefix, seed) => {
        const parsed = parsePolicy(p);
        if (!parsed.ok) return;
        const all = podNames(prefix, replicas + added, seed);
        // The operator compiled for the first `replicas` pods; `added` more became ready since.
        const body = compile(parsed.value, replicas, { readyPods: all.slice(0, replicas) });
        for (const c of body.classes) {
          if (c.scope !== 'Cluster') continue;
          const known = all.slice(0, replicas).reduce((sum, n) => sum + effectiveLimit(c, extraRank(body, n)), 0);
          const newcomers = all.slice(replicas).reduce((sum, n) => sum + effectiveLimit(c, extraRank(body, n)), 0);
          expect(known).toBe(Math.max(c.policyLimit, replicas));
          expect(newcomers).toBe(added * c.limit);
        }
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

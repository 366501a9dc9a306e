import { compile, dividePodLimit, effectiveLimit, extraRank } from '../../api/compile.js';
import { CompiledConfig, MAX_CONFIG_BYTES, MAX_EXTRA_PODS } from '../../api/config.js';
import { parseConfig, parsePolicy } from '../../api/validate.js';

const base = {
  apiVersion: 'spillway.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name: 'chat', namespace: 'talk', generation: 3 },
  spec: {
    targetRef: { kind: 'Deployment', name: 'chat' },
    classes: [
      {
        name: 'background-login',
        match: [{ method: 'POST', path: '/login', headers: { 'X-Login-Kind': 'background' } }],
        priority: 10,
        concurrency: { limit: 40, scope: 'Cluster' },
        shedAtLevel: 1,
        timeoutMs: 2000,
      },
      {
        name: 'send-message',
        match: [{ method: 'POST', pathPrefix: '/messages' }],
        priority: 90,
        concurrency: { limit: 200 },
        queue: { size: 200, timeoutMs: 250 },
      },
    ],
  },
};

function policy(over: (p: typeof base) => unknown = (p) => p) {
  const r = parsePolicy(over(structuredClone(base)));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function rejects(mutate: (p: any) => void): string {
  const p: any = structuredClone(base);
  mutate(p);
  const r = parsePolicy(p);
  if (r.ok) throw new Error('expected rejection');
  return r.error;
}

describe('dividePodLimit', () => {
  test.each([
    [40, 4, 10, 0],
    [40, 3, 13, 1],
    [10, 4, 2, 2],
    [3, 8, 1, 0],
    [5, 0, 5, 0],
    [1, 1, 1, 0],
  ])('%i over %i replicas → base %i, extra %i', (limit, replicas, b, extra) => {
    expect(dividePodLimit(limit, replicas)).toEqual({ limit: b, extra });
  });

  test('per-pod limits add up to the policy limit when there are enough', () => {
    for (let limit = 1; limit < 60; limit++) {
      for (let replicas = 1; replicas <= limit; replicas++) {
        const d = dividePodLimit(limit, replicas);
        let sum = 0;
        for (let slot = 0; slot < replicas; slot++) sum += d.limit + (slot < d.extra ? 1 : 0);
        expect(sum).toBe(limit);
      }
    }
  });

  test('for every replica count from 1 to 10,000: base × replicas + extra = max(limit, replicas), extra < replicas', () => {
    for (const limit of [1, 2, 7, 40, 999, 9_999, 10_000, 10_001, 12_345, 19_999, 1_000_000]) {
      for (let replicas = 1; replicas <= 10_000; replicas++) {
        const d = dividePodLimit(limit, replicas);
        if (d.limit * replicas + d.extra !== Math.max(limit, replicas) || d.extra >= replicas) throw new Error(`${limit} over ${replicas}: ${JSON.stringify(d)}`);
      }
    }
  });
});

describe('compile', () => {
  test('fills defaults, divides Cluster budgets, keeps class order and appends default', () => {
    const c = compile(policy(), 4);
    expect(c.policy).toBe('talk/chat');
    expect(c.target).toBe('talk/chat');
    expect(c.generation).toBe(3);
    expect(c.classes.map((k) => k.name)).toEqual(['background-login', 'send-message', 'default']);
    expect(c.classes[0]).toMatchObject({ limit: 10, extra: 0, policyLimit: 40, scope: 'Cluster', shedAtLevel: 1, timeoutMs: 2000 });
    expect(c.classes[0].match[0].headers).toEqual({ 'x-login-kind': 'background' });
    expect(c.classes[1]).toMatchObject({ limit: 200, scope: 'Pod', queue: { size: 200, timeoutMs: 250 }, shedAtLevel: null });
    expect(c.classes[2]).toMatchObject({ name: 'default', match: [], limit: 100, priority: 50, queue: { size: 0, timeoutMs: 1000 } });
    expect(c.loadLevels).toEqual({ thresholds: [0.7, 0.85, 0.95], holdSeconds: 5 });
    expect(parseConfig({ ...c, version: 1 }).ok).toBe(true);
  });

  test('is deterministic and re-divides on scale', () => {
    const p = policy();
    expect(JSON.stringify(compile(p, 2))).toBe(JSON.stringify(compile(p, 2)));
    expect(compile(p, 2).classes[0].limit).toBe(20);
    expect(compile(p, 8).classes[0].limit).toBe(5);
    expect(compile(p, 100).classes[0].limit).toBe(1);
    expect(compile(p, 0).classes[0].limit).toBe(40);
  });

  test('the output validates against the compiled-config schema', () => {
    const withRoute = policy((p: any) => {
      p.spec.routes = [{ name: 'push', vendors: [{ name: 'a', url: 'http://a:8080/' }, { name: 'b', url: 'http://b' }], dedup: {}, defer: {} }];
      return p;
    });
    const c = compile(withRoute, 2, { activeVendors: { push: 'b' } });
    expect(CompiledConfig.safeParse({ ...c, version: 7 }).success).toBe(true);
    expect(c.routes[0]).toMatchObject({
      activeVendor: 'b',
      pin: '',
      vendors: [{ name: 'a', url: 'http://a:8080', timeoutMs: 3000 }, { name: 'b', url: 'http://b', timeoutMs: 3000 }],
      dedup: { header: 'Idempotency-Key', ttlSeconds: 86400, onRedisDown: 'refuse' },
      defer: { maxAgeSeconds: 600, maxAttempts: 5 },
      failover: { minSuccessRate: 0.9, windowSeconds: 30, minRequests: 20, cooldownSeconds: 120 },
    });
  });

  test('a policy without the adaptive-admission fields compiles to exactly the fields it had before them', () => {
    for (const c of compile(policy(), 4).classes) {
      expect(Object.keys(c).sort()).toEqual(
        ['affectsLoadLevel', 'extra', 'limit', 'match', 'name', 'policyLimit', 'priority', 'queue', 'rejectStatus', 'scope', 'shedAtLevel', 'timeoutMs'],
      );
    }
  });

  test('matcher paths in normal form are accepted as they are', () => {
    const p = policy((q: any) => {
      q.spec.classes[0].match[0].path = '/.well-known/a%20b%3B/~x';
      return q;
    });
    expect(compile(p, 1).classes[0].match[0].path).toBe('/.well-known/a%20b%3B/~x');
  });

  test('spec.pathMatching is in the compiled config only when it differs from the defaults', () => {
    expect('pathMatching' in compile(policy(), 1)).toBe(false);
    const same = policy((q: any) => ({ ...q, spec: { ...q.spec, pathMatching: { caseSensitive: false, trailingSlash: 'Ignore' } } }));
    expect('pathMatching' in compile(same, 1)).toBe(false);
    const strict = policy((q: any) => ({ ...q, spec: { ...q.spec, pathMatching: { trailingSlash: 'Strict' } } }));
    expect(compile(strict, 1).pathMatching).toEqual({ caseSensitive: false, trailingSlash: 'Strict' });
    const cased = policy((q: any) => ({ ...q, spec: { ...q.spec, pathMatching: { caseSensitive: true } } }));
    expect(compile(cased, 1).pathMatching).toEqual({ caseSensitive: true, trailingSlash: 'Ignore' });
  });

  test('borrow, adaptive, fairness and mode compile per class; a class mode overrides the policy mode', () => {
    const p = policy((q: any) => {
      q.spec.mode = 'Shadow';
      q.spec.classes[0].concurrency.borrow = { max: 8 };
      q.spec.classes[0].mode = 'Enforce';
      q.spec.classes[1].concurrency.adaptive = { minLimit: 4, maxLimit: 400 };
      q.spec.classes[1].fairness = { header: 'X-Tenant' };
      q.spec.defaultClass = { concurrency: { limit: 10 }, queue: { size: 5 }, fairness: { clientAddress: true } };
      return q;
    });
    const [bg, send, def] = compile(p, 4).classes;
    expect(bg.borrowMax).toBe(8);
    expect(bg.shadow).toBeUndefined();
    expect(send).toMatchObject({ adaptive: { minLimit: 4, maxLimit: 400 }, fairness: { header: 'x-tenant' }, shadow: true });
    expect(send.borrowMax).toBeUndefined();
    expect(def).toMatchObject({ fairness: { clientAddress: true }, shadow: true });
    expect(parseConfig({ ...compile(p, 4), version: 1 }).ok).toBe(true);
  });

  test('the first ready pods by name take the remainder; the per-pod limits add up to the policy limit', () => {
    const pods = ['chat-c', 'chat-a', 'chat-d', 'chat-b'];
    const wide = policy((p: any) => {
      p.spec.classes[1].concurrency = { limit: 42, scope: 'Cluster' };
      return p;
    });
    const c = compile(wide, 4, { readyPods: pods });
    // 40 over 4: no remainder; 42 over 4: 10 + 2 pods with 11.
    expect(c.classes.map((k) => [k.limit, k.extra])).toEqual([[10, 0], [10, 2], [100, 0]]);
    expect(c.extraPods).toEqual(['chat-a', 'chat-b']);
    expect(pods.map((pod) => effectiveLimit(c.classes[1], extraRank(c, pod)))).toEqual([10, 11, 10, 11]);
    for (const k of c.classes.slice(0, 2)) expect(pods.reduce((sum, pod) => sum + effectiveLimit(k, extraRank(c, pod)), 0)).toBe(k.policyLimit);
    expect(parseConfig({ ...c, version: 1 }).ok).toBe(true);
    // A pod that became ready after the list was published takes the base: the sum never exceeds the limit.
    expect(extraRank(c, 'chat-0')).toBe(-1);
    expect(effectiveLimit(c.classes[1], -1)).toBe(10);
  });

  test('the list is the longest remainder of all classes, each class taking its own prefix', () => {
    const p = policy((q: any) => {
      q.spec.classes[0].concurrency = { limit: 13, scope: 'Cluster' };
      q.spec.classes[1].concurrency = { limit: 11, scope: 'Cluster' };
      return q;
    });
    const pods = ['e', 'd', 'c', 'b', 'a'];
    const c = compile(p, 5, { readyPods: pods });
    expect(c.extraPods).toEqual(['a', 'b', 'c']);
    expect(pods.map((pod) => effectiveLimit(c.classes[0], extraRank(c, pod)))).toEqual([2, 2, 3, 3, 3]);
    expect(pods.map((pod) => effectiveLimit(c.classes[1], extraRank(c, pod)))).toEqual([2, 2, 2, 2, 3]);
  });

  test('no remainder, or no ready pods known: no extraPods field, the config exactly as before it existed', () => {
    const p = policy();
    expect(JSON.stringify(compile(p, 4, { readyPods: ['a', 'b', 'c', 'd'] }))).toBe(JSON.stringify(compile(p, 4)));
    expect('extraPods' in compile(p, 4, { readyPods: ['a', 'b', 'c', 'd'] })).toBe(false);
    expect('extraPods' in compile(p, 3)).toBe(false);
    expect('extraPods' in compile(p, 3, { readyPods: [] })).toBe(false);
    // Limit below the replicas: every pod enforces 1, nothing to list.
    expect(compile(p, 50, { readyPods: ['a', 'b'] })).not.toHaveProperty('extraPods');
  });

  test('names that are not pod names are left out, duplicates counted once; fewer pods than the remainder list what there is', () => {
    const c = compile(policy(), 3, { readyPods: ['B', 'x', 'x', '', 'a'.repeat(254)] });
    expect(c.extraPods).toEqual(['x']);
    expect(compile(policy(), 7, { readyPods: ['p-1', 'p-0'] }).extraPods).toEqual(['p-0', 'p-1']);
    expect(compile(policy(), 3, { readyPods: ['UPPER'] })).not.toHaveProperty('extraPods');
  });

  test('10,000 replicas with 63-character names: the whole list fits within the config cap', () => {
    const p = policy((q: any) => {
      q.spec.classes[0].concurrency = { limit: 19_999, scope: 'Cluster' };
      return q;
    });
    const pods = Array.from({ length: 10_000 }, (_, i) => `${'w'.repeat(52)}-${String(i).padStart(10, '0')}`);
    const c = compile(p, 10_000, { readyPods: pods });
    expect(c.classes[0]).toMatchObject({ limit: 1, extra: 9_999 });
    expect(c.extraPods).toHaveLength(9_999);
    const bytes = Buffer.byteLength(JSON.stringify({ version: Number.MAX_SAFE_INTEGER, ...c }));
    expect(bytes).toBeLessThan(MAX_CONFIG_BYTES);
    expect(bytes).toBeGreaterThan(600_000);
    expect(parseConfig({ ...c, version: 1 }).ok).toBe(true);
  });

  test('names too long to all fit: the list is cut so the document stays within the cap, and the sum stays below the limit', () => {
    const p = policy((q: any) => {
      q.spec.classes[0].concurrency = { limit: 19_999, scope: 'Cluster' };
      return q;
    });
    const pods = Array.from({ length: 10_000 }, (_, i) => `${'w'.repeat(242)}-${String(i).padStart(10, '0')}`);
    const c = compile(p, 10_000, { readyPods: pods });
    const listed = c.extraPods?.length ?? 0;
    expect(listed).toBeGreaterThan(3_000);
    expect(listed).toBeLessThan(9_999);
    expect(c.extraPods).toEqual([...pods].sort().slice(0, listed));
    expect(Buffer.byteLength(JSON.stringify({ version: Number.MAX_SAFE_INTEGER, ...c }))).toBeLessThanOrEqual(MAX_CONFIG_BYTES);
    expect(parseConfig({ ...c, version: 1 }).ok).toBe(true);
    expect(10_000 * c.classes[0].limit + listed).toBeLessThan(19_999);
  });

  test('more than MAX_EXTRA_PODS pods due a remainder: the list stops there', () => {
    const p = policy((q: any) => {
      q.spec.classes[0].concurrency = { limit: 2 * 12_000 - 1, scope: 'Cluster' };
      return q;
    });
    const pods = Array.from({ length: 12_000 }, (_, i) => `p${i}`);
    const c = compile(p, 12_000, { readyPods: pods });
    expect(c.classes[0].extra).toBe(11_999);
    expect(c.extraPods).toHaveLength(MAX_EXTRA_PODS);
    expect(parseConfig({ ...c, version: 1 }).ok).toBe(true);
  });
});

describe('extraPods in the compiled-config schema (hostile writers)', () => {
  const good = () => ({ ...compile(policy(), 3, { readyPods: ['a', 'b', 'c'] }), version: 1 });
  test.each<[string, (c: any) => void, RegExp]>([
    ['longer than the largest extra', (c) => (c.extraPods = ['a', 'b']), /more than the largest extra/],
    ['longer than readyReplicas', (c) => ((c.classes[0].extra = 5), (c.extraPods = ['a', 'b', 'c', 'd'])), /more than readyReplicas/],
    ['a pod twice', (c) => ((c.classes[0].extra = 2), (c.extraPods = ['a', 'a'])), /listed twice/],
    ['not a pod name', (c) => (c.extraPods = ['Not_A_Pod']), /extraPods\[0\]: not a pod name/],
    ['a name over 253 characters', (c) => (c.extraPods = ['a'.repeat(254)]), /extraPods\[0\]/],
    ['not strings', (c) => (c.extraPods = [1]), /extraPods\[0\]/],
    ['empty', (c) => (c.extraPods = []), /extraPods/],
    ['more than MAX_EXTRA_PODS', (c) => ((c.readyReplicas = 20_000), (c.classes[0].extra = 19_999), (c.extraPods = Array.from({ length: MAX_EXTRA_PODS + 1 }, (_, i) => `p${i}`))), /extraPods/],
  ])('refused: %s', (_what, mutate, error) => {
    const c = good();
    expect(parseConfig(c).ok).toBe(true);
    mutate(c);
    const r = parseConfig(c);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });
});

describe('rejected policies name the field at fault', () => {
  test.each<[string, (p: any) => void, RegExp]>([
    ['duplicate class', (p) => (p.spec.classes[1].name = 'background-login'), /spec\.classes\[1\]\.name: duplicate class name/],
    ['reserved name', (p) => (p.spec.classes[0].name = 'default'), /spec\.classes\[0\]\.name: "default" is reserved/],
    ['bad name', (p) => (p.spec.classes[0].name = 'Login!'), /spec\.classes\[0\]\.name: must be a DNS label/],
    ['zero limit', (p) => (p.spec.classes[0].concurrency.limit = 0), /spec\.classes\[0\]\.concurrency\.limit/],
    ['bad scope', (p) => (p.spec.classes[0].concurrency.scope = 'Node'), /spec\.classes\[0\]\.concurrency\.scope/],
    ['queue timeout without queue', (p) => (p.spec.classes[0].queue = { size: 0, timeoutMs: 5 }), /queue\.timeoutMs: timeoutMs needs a queue/],
    ['descending thresholds', (p) => (p.spec.loadLevels = { thresholds: [0.9, 0.8, 0.95] }), /spec\.loadLevels\.thresholds: thresholds must be strictly ascending/],
    ['path and prefix', (p) => (p.spec.classes[0].match[0].pathPrefix = '/x'), /match\[0\]\.pathPrefix: set either path or pathPrefix/],
    ['relative path', (p) => (p.spec.classes[0].match[0].path = 'login'), /match\[0\]\.path: must start with "\/"/],
    ['matcher path with //', (p) => (p.spec.classes[0].match[0].path = '//login'), /match\[0\]\.path: must not hold "\/\/"/],
    ['matcher path with ..', (p) => (p.spec.classes[0].match[0].path = '/a/../login'), /match\[0\]\.path: must not hold "\." or "\.\." segments/],
    ['matcher prefix ending in .', (p) => (p.spec.classes[1].match[0].pathPrefix = '/messages/.'), /match\[0\]\.pathPrefix: must not hold "\." or "\.\." segments/],
    ['matcher path with ;', (p) => (p.spec.classes[0].match[0].path = '/login;x'), /match\[0\]\.path: must not hold ";"/],
    ['matcher path with %2F', (p) => (p.spec.classes[0].match[0].path = '/a%2fb'), /match\[0\]\.path: must not hold ";", "\\", %2F/],
    ['matcher path with encoded unreserved', (p) => (p.spec.classes[0].match[0].path = '/%6Cogin'), /match\[0\]\.path: must not percent-encode letters/],
    ['matcher path with lower-case hex', (p) => (p.spec.classes[0].match[0].path = '/a%3bb'), /match\[0\]\.path: percent-escapes must be/],
    ['matcher path with a query', (p) => (p.spec.classes[0].match[0].path = '/login?x=1'), /match\[0\]\.path: must not hold "\?"/],
    ['unknown field', (p) => (p.spec.classes[0].limit = 5), /spec\.classes\[0\]/],
    ['shedAtLevel 4', (p) => (p.spec.classes[0].shedAtLevel = 4), /spec\.classes\[0\]\.shedAtLevel/],
    ['no matchers', (p) => (p.spec.classes[0].match = []), /spec\.classes\[0\]\.match/],
    ['bad method', (p) => (p.spec.classes[0].match[0].method = 'FETCH'), /match\[0\]\.method/],
    ['no target', (p) => delete p.spec.targetRef, /spec\.targetRef/],
    ['pin unknown vendor', (p) => (p.spec.routes = [{ name: 'push', vendors: [{ name: 'a', url: 'http://a' }], pin: 'z' }]), /spec\.routes\[0\]\.pin: pin "z" is not one of the vendors/],
    ['duplicate vendor', (p) => (p.spec.routes = [{ name: 'push', vendors: [{ name: 'a', url: 'http://a' }, { name: 'a', url: 'http://b' }] }]), /vendors\[1\]\.name: duplicate vendor/],
    ['bad vendor url', (p) => (p.spec.routes = [{ name: 'push', vendors: [{ name: 'a', url: 'ftp://a' }] }]), /vendors\[0\]\.url: must be an http/],
    ['wrong kind', (p) => (p.kind = 'Policy'), /kind/],
    ['zero borrow', (p) => (p.spec.classes[0].concurrency.borrow = { max: 0 }), /spec\.classes\[0\]\.concurrency\.borrow\.max/],
    ['adaptive min above max', (p) => (p.spec.classes[0].concurrency.adaptive = { minLimit: 9, maxLimit: 3 }), /concurrency\.adaptive\.maxLimit: minLimit must not exceed maxLimit/],
    ['fairness with both keys', (p) => (p.spec.classes[1].fairness = { header: 'x-a', clientAddress: true }), /spec\.classes\[1\]\.fairness\.header: set exactly one/],
    ['fairness with no key', (p) => (p.spec.classes[1].fairness = {}), /spec\.classes\[1\]\.fairness\.header: set exactly one/],
    ['fairness by a bad header name', (p) => (p.spec.classes[1].fairness = { header: 'x a' }), /fairness\.header: must be an HTTP header name/],
    ['clientAddress false', (p) => (p.spec.classes[1].fairness = { clientAddress: false }), /fairness\.clientAddress/],
    ['fairness without a queue', (p) => (p.spec.classes[0].fairness = { clientAddress: true }), /spec\.classes\[0\]\.fairness: fairness needs a queue/],
    ['unknown mode', (p) => (p.spec.mode = 'DryRun'), /spec\.mode/],
    ['unknown class mode', (p) => (p.spec.classes[0].mode = 'shadow'), /spec\.classes\[0\]\.mode/],
  ])('%s', (_name, mutate, expected) => {
    expect(rejects(mutate)).toMatch(expected);
  });
});

import { compile, dividePodLimit, effectiveLimit, podSlot } from '../../api/compile.js';
import { CompiledConfig } from '../../api/config.js';
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

  test('the pod slot is stable and in range', () => {
    expect(podSlot('chat-7d9f-abcde', 4)).toBe(podSlot('chat-7d9f-abcde', 4));
    for (const n of ['a', 'b', 'chat-1', 'chat-2']) expect(podSlot(n, 3)).toBeLessThan(3);
    const c = compile(policy(), 3).classes[0];
    expect([effectiveLimit(c, 0), effectiveLimit(c, 1), effectiveLimit(c, 2)]).toEqual([14, 13, 13]);
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

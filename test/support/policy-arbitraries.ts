/**
 * fast-check generators of TrafficPolicies and requests, shared by the property tests of the
 * policy pipeline and of the classifier. Mostly valid policies: the generators follow the schema;
 * duplicates and the like are left for parsePolicy to catch.
 */
import fc from 'fast-check';

export const label = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
export const path = fc.stringMatching(/^\/[a-z0-9/._-]{0,20}$/);
export const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS');
export const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);
export const headerValue = fc.stringMatching(/^[ -~]{0,12}$/);

export const match = fc.record(
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

export const classFields = {
  priority: fc.integer({ min: 0, max: 1000 }),
  concurrency: fc.record({ limit: fc.integer({ min: 1, max: 1_000_000 }), scope: fc.constantFrom('Pod', 'Cluster') }, { requiredKeys: ['limit'] }),
  queue: fc.oneof(fc.record({ size: fc.constant(0) }), fc.record({ size: fc.integer({ min: 1, max: 100_000 }), timeoutMs: fc.integer({ min: 1, max: 600_000 }) })),
  shedAtLevel: fc.integer({ min: 1, max: 3 }),
  timeoutMs: fc.integer({ min: 1, max: 3_600_000 }),
  rejectStatus: fc.constantFrom(503, 429),
  affectsLoadLevel: fc.boolean(),
};

export const cls = fc.record({ name: label, match: fc.array(match, { minLength: 1, maxLength: 3 }), ...classFields }, { requiredKeys: ['name', 'match', 'concurrency'] });

export const vendor = fc.record({ name: label, url: fc.constantFrom('http://a.vendors:8080', 'https://b.example/api/', 'http://10.0.0.1'), timeoutMs: fc.integer({ min: 1, max: 600_000 }) }, { requiredKeys: ['name', 'url'] });

export const route = fc.record(
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

/** A TrafficPolicy document. */
export const policy = fc.record({
  apiVersion: fc.constant('spillway.io/v1alpha1'),
  kind: fc.constant('TrafficPolicy'),
  metadata: fc.record({ name: label, namespace: label, generation: fc.integer({ min: 0, max: 1_000_000 }) }),
  spec: fc.record(
    {
      targetRef: fc.record({ kind: fc.constantFrom('Deployment', 'StatefulSet'), name: label }, { requiredKeys: ['name'] }),
      loadLevels: fc.record({ thresholds: fc.constantFrom<number[]>([0.7, 0.85, 0.95], [0.5, 0.6, 1]), holdSeconds: fc.integer({ min: 0, max: 3600 }) }, { requiredKeys: [] }),
      classes: fc.array(cls, { maxLength: 6 }),
      defaultClass: fc.record(classFields, { requiredKeys: ['concurrency'] }),
      routes: fc.array(route, { maxLength: 3 }),
      warmupSeconds: fc.integer({ min: 0, max: 3600 }),
    },
    { requiredKeys: ['targetRef'] },
  ),
});

/** A request as the sidecar sees it: method, target (with a query string or not), lower-cased headers, upgrade or not. */
export const request = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'BREW'),
  url: fc.tuple(path, fc.option(fc.stringMatching(/^[a-z=&%0-9+]{0,16}$/))).map(([p, q]) => (q === null ? p : `${p}?${q}`)),
  headers: fc.dictionary(headerName.map((h) => h.toLowerCase()), headerValue, { maxKeys: 4 }),
  websocket: fc.boolean(),
});

import {
  aggregateRoute,
  encodeReport,
  MAX_REPORT_BYTES,
  MAX_REPORT_COUNT,
  parseReport,
  RECOVERY_QUORUM,
  sumReports,
  vendorHealthKey,
  type RouteRules,
} from '../../api/vendor-health.js';

const rules: RouteRules = {
  name: 'push',
  vendors: [
    { name: 'a', url: 'http://a', timeoutMs: 1000 },
    { name: 'b', url: 'http://b', timeoutMs: 1000 },
    { name: 'c', url: 'http://c', timeoutMs: 1000 },
  ],
  failover: { minSuccessRate: 0.9, windowSeconds: 30, minRequests: 20, cooldownSeconds: 60 },
  pin: '',
};

const NOW = 1_000_000;

function fields(reports: Record<string, Record<string, [number, number]>>, at = NOW) {
  const out: Record<string, string> = {};
  for (const [pod, vendors] of Object.entries(reports)) {
    out[pod] = encodeReport({
      at,
      active: 'a',
      vendors: Object.fromEntries(Object.entries(vendors).map(([v, [ok, fail]]) => [v, { ok, fail }])),
    });
  }
  return out;
}

describe('vendor health aggregation', () => {
  it('names the hash per workload and route', () => {
    expect(vendorHealthKey('talk/relay', 'push')).toBe('spillway:vendor-health:talk/relay:push');
  });

  it('parses reports and refuses malformed ones', () => {
    const r = { at: 5, active: 'a', vendors: { a: { ok: 1, fail: 2 } } };
    expect(parseReport(encodeReport(r), NOW)).toEqual({ ok: true, report: r });
    const reason = (raw: string) => {
      const p = parseReport(raw, NOW);
      return p.ok ? 'accepted' : p.reason;
    };
    const report = (vendors: unknown, at: unknown = NOW) => JSON.stringify({ at, active: 'a', vendors });
    expect(reason('nope')).toBe('not-json');
    expect(reason('{"at":1,"active":"a","vendors":{"a":{"ok":NaN,"fail":0}}}')).toBe('not-json');
    expect(reason('x'.repeat(MAX_REPORT_BYTES + 1))).toBe('too-large');
    expect(reason(report({ a: { ok: 1, fail: 0, pad: 'x'.repeat(MAX_REPORT_BYTES) } }))).toBe('too-large');
    expect(reason('[1,2]')).toBe('wrong-shape');
    expect(reason('null')).toBe('wrong-shape');
    expect(reason('{"active":"a","vendors":{}}')).toBe('wrong-shape');
    expect(reason(JSON.stringify({ at: NOW, active: 7, vendors: {} }))).toBe('wrong-shape');
    expect(reason(report([{ ok: 1, fail: 0 }]))).toBe('wrong-shape');
    expect(reason(report({ a: 'ok' }))).toBe('wrong-shape');
    expect(reason(report(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`v${i}`, { ok: 1, fail: 0 }]))))).toBe('wrong-shape');
    expect(reason(report({ a: { ok: 1, fail: 0 } }, 'yesterday'))).toBe('wrong-shape');
    expect(reason(report({ a: { ok: -1, fail: 0 } }))).toBe('bad-count');
    expect(reason(report({ a: { ok: 'NaN', fail: 0 } }))).toBe('bad-count');
    expect(reason(report({ a: { ok: 1.5, fail: 0 } }))).toBe('bad-count');
    expect(reason(report({ a: { ok: 0, fail: 1e300 } }))).toBe('bad-count');
    expect(reason(report({ a: { ok: 0, fail: MAX_REPORT_COUNT + 1 } }))).toBe('bad-count');
    expect(reason(report({ a: { ok: 0 } }))).toBe('bad-count');
    expect(reason(report({ a: { ok: 1, fail: 0 } }, NOW + 3_600_000))).toBe('future');
    expect(reason(report({ a: { ok: 1, fail: 0 } }, 8.64e15))).toBe('future');
    expect(reason(report({ a: { ok: 1, fail: 0 } }, NOW + 5_000))).toBe('accepted'); // a little clock skew is fine
    expect(reason(report({ a: { ok: MAX_REPORT_COUNT, fail: 0 } }))).toBe('accepted');
  });

  it('malformed reports never move the active vendor, and say which pod and why', () => {
    // A healthy pod on `a`, and forged reports claiming `a` fails massively.
    const forged = {
      p2: JSON.stringify({ at: NOW, active: 'b', vendors: { a: { ok: 0, fail: 1e12 } } }),
      p3: JSON.stringify({ at: NOW + 86_400_000, active: 'b', vendors: { a: { ok: 0, fail: 1000 } } }),
      p4: JSON.stringify({ at: NOW, active: 'b', vendors: { a: { ok: 0, fail: -5 }, b: { ok: 5, fail: 0 } } }),
      p5: '{"at":',
    };
    const h = aggregateRoute(rules, { ...fields({ p1: { a: [99, 1] } }), ...forged }, { activeVendor: 'a', sinceMs: 0 }, NOW);
    expect(h).toMatchObject({ activeVendor: 'a', changed: false, pods: 1 });
    expect(h.rejected).toEqual([
      { pod: 'p2', reason: 'bad-count' },
      { pod: 'p3', reason: 'future' },
      { pod: 'p4', reason: 'bad-count' },
      { pod: 'p5', reason: 'not-json' },
    ]);
    // With only forged reports, nobody reported: the tracker keeps what the pods follow.
    expect(aggregateRoute(rules, forged, { activeVendor: 'a', sinceMs: 0 }, NOW)).toMatchObject({ pods: 0, activeVendor: 'a' });
  });

  it('sums fresh reports over pods, ignoring stale and broken ones', () => {
    const f = { ...fields({ p1: { a: [10, 1] }, p2: { a: [5, 4], b: [3, 0] } }), p3: 'garbage', ...fields({ p4: { a: [100, 0] } }, NOW - 60_000) };
    const s = sumReports(f, ['a', 'b', 'c'], NOW);
    expect(s.pods).toBe(2);
    expect(s.counts).toEqual([
      { ok: 15, fail: 5 },
      { ok: 3, fail: 0 },
      { ok: 0, fail: 0 },
    ]);
  });

  it('keeps the current vendor while healthy and reports rates', () => {
    const h = aggregateRoute(rules, fields({ p1: { a: [99, 1] } }), { activeVendor: 'a', sinceMs: 0 }, NOW);
    expect(h).toMatchObject({ activeVendor: 'a', changed: false, reason: 'steady', pods: 1 });
    expect(h.vendors[0]).toEqual({ name: 'a', ok: 99, fail: 1, requests: 100, successRate: 0.99 });
    expect(h.vendors[1].successRate).toBeNull();
  });

  it('starts on the first vendor without a previous decision', () => {
    const h = aggregateRoute(rules, {}, undefined, NOW);
    expect(h).toMatchObject({ activeVendor: 'a', changed: true });
  });

  it('moves the whole workload when the summed rate fails, even if no single pod has minRequests', () => {
    const h = aggregateRoute(rules, fields({ p1: { a: [6, 4] }, p2: { a: [6, 4] } }), { activeVendor: 'a', sinceMs: 0 }, NOW);
    expect(h).toMatchObject({ activeVendor: 'b', changed: true, reason: 'failing', sinceMs: NOW });
  });

  it('skips a vendor that is failing too', () => {
    const h = aggregateRoute(rules, fields({ p1: { a: [10, 20], b: [0, 30] } }), { activeVendor: 'a', sinceMs: 0 }, NOW);
    expect(h.activeVendor).toBe('c');
  });

  it('stays when every vendor fails', () => {
    const h = aggregateRoute(rules, fields({ p1: { a: [0, 30], b: [0, 30], c: [0, 30] } }), { activeVendor: 'b', sinceMs: 0 }, NOW);
    expect(h).toMatchObject({ activeVendor: 'b', changed: false });
  });

  it('moves back to the preferred vendor after the cooldown once its probes are healthy', () => {
    const probes = fields({ p1: { a: [RECOVERY_QUORUM, 0], b: [200, 0] } });
    // Within the cooldown: stay.
    expect(aggregateRoute(rules, probes, { activeVendor: 'b', sinceMs: NOW - 30_000 }, NOW).activeVendor).toBe('b');
    // Too few probes: stay.
    const few = fields({ p1: { a: [RECOVERY_QUORUM - 1, 0], b: [200, 0] } });
    expect(aggregateRoute(rules, few, { activeVendor: 'b', sinceMs: NOW - 90_000 }, NOW).activeVendor).toBe('b');
    // Probes failing: stay.
    const bad = fields({ p1: { a: [3, 3], b: [200, 0] } });
    expect(aggregateRoute(rules, bad, { activeVendor: 'b', sinceMs: NOW - 90_000 }, NOW).activeVendor).toBe('b');
    const back = aggregateRoute(rules, probes, { activeVendor: 'b', sinceMs: NOW - 90_000 }, NOW);
    expect(back).toMatchObject({ activeVendor: 'a', changed: true, reason: 'recovered' });
  });

  it('pin wins over everything', () => {
    const h = aggregateRoute({ ...rules, pin: 'c' }, fields({ p1: { c: [0, 100] } }), { activeVendor: 'a', sinceMs: 0 }, NOW);
    expect(h).toMatchObject({ activeVendor: 'c', reason: 'pin', changed: true });
  });

  it('a previous vendor no longer in the route counts as no decision', () => {
    const h = aggregateRoute(rules, {}, { activeVendor: 'gone', sinceMs: 0 }, NOW);
    expect(h).toMatchObject({ activeVendor: 'a', changed: true });
  });
});

import {
  CONSECUTIVE_TIMEOUTS,
  PROBE_EVERY,
  PROBE_SUCCESSES,
  RouteFailover,
  type FailoverSettings,
  type Transition,
} from '../../sidecar/egress/failover.js';
import { classifyError, classifyStatus, isRetrySafe, isVendorFailure } from '../../sidecar/egress/outcome.js';
import { OutcomeWindow } from '../../sidecar/egress/window.js';

const settings: FailoverSettings = { minSuccessRate: 0.9, windowSeconds: 10, minRequests: 20, cooldownSeconds: 30 };

function route(vendors = ['a', 'b', 'c'], s = settings) {
  const moves: Transition[] = [];
  const f = new RouteFailover(vendors, s, (t) => moves.push(t));
  return { f, moves };
}

/** Sends n requests at time t through pick(), answering with outcome(vendor name). */
function drive(f: RouteFailover, n: number, t: number, outcome: (vendor: string) => 'success' | 'failure' | 'timeout' | 'refused') {
  const used: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = f.pick(t);
    used.push(f.vendors[v]);
    f.record(v, outcome(f.vendors[v]), t);
  }
  return used;
}

describe('OutcomeWindow', () => {
  it('counts outcomes and forgets them as the window slides', () => {
    const w = new OutcomeWindow(10);
    for (let i = 0; i < 10; i++) w.record(i % 2 === 0, 1000);
    expect(w.counts(1000)).toEqual({ ok: 5, fail: 5 });
    expect(w.rate(1000, 5)).toBe(0.5);
    expect(w.rate(1000, 11)).toBeNull();
    w.record(true, 6000);
    expect(w.counts(6000)).toEqual({ ok: 6, fail: 5 });
    // 1000 leaves the 10 s window once its 1 s bucket is more than 10 s old.
    expect(w.counts(11_500)).toEqual({ ok: 1, fail: 0 });
    expect(w.counts(17_000)).toEqual({ ok: 0, fail: 0 });
    expect(w.rate(17_000, 1)).toBeNull();
  });

  it('survives long idle gaps and reset', () => {
    const w = new OutcomeWindow(1);
    w.record(false, 0);
    expect(w.counts(1_000_000)).toEqual({ ok: 0, fail: 0 });
    w.record(true, 1_000_000);
    w.reset();
    expect(w.counts(1_000_000)).toEqual({ ok: 0, fail: 0 });
  });
});

describe('outcome rules', () => {
  it('classifies statuses, with 4xx the caller fault unless configured', () => {
    expect(classifyStatus(200, false)).toBe('success');
    expect(classifyStatus(204, false)).toBe('success');
    expect(classifyStatus(500, false)).toBe('failure');
    expect(classifyStatus(503, false)).toBe('failure');
    expect(classifyStatus(429, false)).toBe('failure');
    expect(classifyStatus(400, false)).toBe('caller');
    expect(classifyStatus(404, true)).toBe('failure');
    expect(isVendorFailure('caller')).toBe(false);
    expect(isVendorFailure('timeout')).toBe(true);
    expect(classifyError('ECONNREFUSED')).toBe('refused');
    expect(classifyError('ECONNRESET')).toBe('error');
  });

  it('retries only idempotent methods or keyed sends', () => {
    expect(isRetrySafe('GET', false)).toBe(true);
    expect(isRetrySafe('PUT', false)).toBe(true);
    expect(isRetrySafe('POST', false)).toBe(false);
    expect(isRetrySafe('PATCH', false)).toBe(false);
    expect(isRetrySafe('POST', true)).toBe(true);
  });
});

describe('RouteFailover', () => {
  it('stays on the first vendor while it is healthy', () => {
    const { f, moves } = route();
    const used = drive(f, 100, 1000, () => 'success');
    expect(new Set(used)).toEqual(new Set(['a']));
    expect(moves).toEqual([]);
  });

  it('does not judge a vendor before minRequests', () => {
    const { f } = route();
    drive(f, 19, 1000, () => 'failure');
    expect(f.activeName).toBe('a');
    drive(f, 1, 1000, () => 'failure');
    expect(f.activeName).toBe('b');
  });

  it('moves to the next vendor when the success rate drops below minSuccessRate', () => {
    const { f, moves } = route();
    drive(f, 100, 1000, () => 'success');
    // 60% success from now on: the window (10 s) still holds the good history at first.
    let i = 0;
    let t = 2000;
    while (f.activeName === 'a' && t < 20_000) {
      drive(f, 10, t, () => (i++ % 5 < 3 ? 'success' : 'failure'));
      t += 100;
    }
    expect(f.activeName).toBe('b');
    expect(moves).toEqual([{ from: 'a', to: 'b', reason: 'success-rate' }]);
    expect(t).toBeLessThan(10_000);
  });

  it('fails over at once on connection refused, and after consecutive timeouts', () => {
    const { f, moves } = route();
    f.record(f.pick(0), 'refused', 0);
    expect(f.activeName).toBe('b');
    for (let i = 0; i < CONSECUTIVE_TIMEOUTS - 1; i++) f.record(1, 'timeout', 10);
    expect(f.activeName).toBe('b');
    f.record(1, 'success', 10); // a success breaks the run
    for (let i = 0; i < CONSECUTIVE_TIMEOUTS - 1; i++) f.record(1, 'timeout', 20);
    expect(f.activeName).toBe('b');
    f.record(1, 'timeout', 20);
    expect(f.activeName).toBe('c');
    expect(moves.map((m) => m.reason)).toEqual(['hard-failure', 'hard-failure']);
  });

  it('probes the preferred vendor after the cooldown and moves back only after successful probes', () => {
    const { f, moves } = route(['a', 'b']);
    f.record(0, 'refused', 0);
    expect(f.activeName).toBe('b');
    // During the cooldown nothing goes to a.
    expect(new Set(drive(f, 200, 29_000, () => 'success'))).toEqual(new Set(['b']));
    // After it, 1 in PROBE_EVERY goes to a; a still fails: the probe fails and the cooldown restarts.
    const used = drive(f, PROBE_EVERY * 3, 31_000, (v) => (v === 'a' ? 'failure' : 'success'));
    expect(used.filter((v) => v === 'a')).toHaveLength(1);
    expect(f.activeName).toBe('b');
    expect(drive(f, PROBE_EVERY * 5, 40_000, () => 'success').filter((v) => v === 'a')).toHaveLength(0);
    // Next cooldown over and a recovered: PROBE_SUCCESSES probes, then back.
    const after = drive(f, PROBE_EVERY * PROBE_SUCCESSES, 62_000, () => 'success');
    expect(after.filter((v) => v === 'a')).toHaveLength(PROBE_SUCCESSES);
    expect(f.activeName).toBe('a');
    expect(moves.at(-1)).toEqual({ from: 'b', to: 'a', reason: 'recovered' });
  });

  it('sends one probe at a time (a hanging probe does not multiply)', () => {
    const { f } = route(['a', 'b']);
    f.record(0, 'refused', 0);
    const picks: number[] = [];
    for (let i = 0; i < PROBE_EVERY * 5; i++) picks.push(f.pick(31_000));
    expect(picks.filter((v) => v === 0)).toHaveLength(1);
  });

  it('pin forces a vendor: no failover, no probes, no retries elsewhere', () => {
    const { f, moves } = route();
    f.direct('c', '', 0);
    expect(f.activeName).toBe('c');
    expect(moves).toEqual([{ from: 'a', to: 'c', reason: 'pin' }]);
    drive(f, 50, 100, () => 'refused');
    expect(f.activeName).toBe('c');
    expect(new Set(drive(f, 50, 100_000, () => 'success'))).toEqual(new Set(['c']));
    expect(f.retryVendor(1 << 2, 100)).toBe(-1);
    f.direct('', '', 200_000);
    f.record(2, 'refused', 200_000);
    expect(f.activeName).toBe('a');
  });

  it("follows the operator's vendor; locally only hard failures move off it", () => {
    const { f, moves } = route();
    f.direct('', 'b', 0);
    expect(f.activeName).toBe('b');
    expect(moves.at(-1)?.reason).toBe('operator');
    // A brownout on b is the operator's call, not this pod's.
    drive(f, 100, 1000, (v) => (v === 'b' ? 'failure' : 'success'));
    expect(f.activeName).toBe('b');
    // A hard failure is acted on at once.
    f.record(1, 'refused', 2000);
    expect(f.activeName).toBe('c');
    // Once b rests out its cooldown and answers probes, the pod returns to the operator's choice.
    drive(f, PROBE_EVERY * PROBE_SUCCESSES, 40_000, () => 'success');
    expect(f.activeName).toBe('b');
    // The operator changes its mind: followed.
    f.direct('', 'a', 50_000);
    expect(f.activeName).toBe('a');
  });

  it('while on the operator choice, probes the preferred vendor for the operator without moving', () => {
    const { f } = route(['a', 'b']);
    f.direct('', 'b', 0);
    const used = drive(f, PROBE_EVERY * 10, 31_000, () => 'success');
    expect(used.filter((v) => v === 'a').length).toBeGreaterThan(0);
    expect(f.activeName).toBe('b');
    expect(f.counts(0, 31_000).ok).toBeGreaterThan(0);
  });

  it('retries on the next healthy vendor, never one already tried', () => {
    const { f } = route();
    expect(f.retryVendor(1 << 0, 0)).toBe(1);
    expect(f.retryVendor((1 << 0) | (1 << 1), 0)).toBe(2);
    expect(f.retryVendor(0b111, 0)).toBe(-1);
    // A resting vendor is a last resort; a vendor failing its window is never retried.
    f.record(0, 'refused', 0); // a rests, b active
    expect(f.retryVendor(1 << 1, 10)).toBe(2);
    expect(f.retryVendor((1 << 1) | (1 << 2), 10)).toBe(0);
    for (let i = 0; i < 20; i++) f.record(2, 'failure', 10);
    expect(f.retryVendor(1 << 1, 10)).toBe(0);
  });

  it('a vendor answering 4xx as the caller fault is not counted against it', () => {
    const { f } = route();
    for (let i = 0; i < 50; i++) f.record(0, 'caller', 0);
    expect(f.activeName).toBe('a');
    expect(f.counts(0, 0)).toEqual({ ok: 0, fail: 0 });
  });

  it('with every vendor failing, stays put rather than flapping', () => {
    const { f } = route(['a', 'b']);
    for (let i = 0; i < 20; i++) f.record(1, 'failure', 0);
    for (let i = 0; i < 20; i++) f.record(0, 'failure', 0);
    // b is failing too, and was never left: nowhere better to go.
    expect(f.activeName).toBe('a');
  });
});

import { ACCEPTED, capMessage, PROGRAMMED, setCondition, statusEvents } from '../../operator/status.js';
import { CONDITION_MESSAGE_MAX } from '../../api/policy.js';
import type { TrafficPolicyStatus } from '../../api/policy.js';
import { compile } from '../../api/compile.js';
import { parsePolicy } from '../../api/validate.js';
import { divisionNotes } from '../../operator/reconcile.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');
const t2 = new Date('2026-01-01T00:10:00Z');

describe('conditions', () => {
  it('moves lastTransitionTime only when the status flips', () => {
    let c = setCondition(undefined, { type: ACCEPTED, status: 'True', reason: 'Accepted', message: 'ok' }, 1, t0);
    expect(c[0]).toEqual({ type: ACCEPTED, status: 'True', reason: 'Accepted', message: 'ok', lastTransitionTime: t0.toISOString(), observedGeneration: 1 });
    c = setCondition(c, { type: ACCEPTED, status: 'True', reason: 'Accepted', message: 'still ok' }, 2, t1);
    expect(c[0].lastTransitionTime).toBe(t0.toISOString());
    expect(c[0].observedGeneration).toBe(2);
    expect(c[0].message).toBe('still ok');
    c = setCondition(c, { type: ACCEPTED, status: 'False', reason: 'Invalid', message: 'bad' }, 3, t2);
    expect(c[0].lastTransitionTime).toBe(t2.toISOString());
    expect(c).toHaveLength(1);
  });

  it('keeps other condition types in place', () => {
    let c = setCondition(undefined, { type: ACCEPTED, status: 'True', reason: 'Accepted', message: '' }, 1, t0);
    c = setCondition(c, { type: PROGRAMMED, status: 'False', reason: 'TargetNotFound', message: '' }, 1, t0);
    c = setCondition(c, { type: ACCEPTED, status: 'True', reason: 'Accepted', message: '' }, 1, t1);
    expect(c.map((x) => x.type)).toEqual([ACCEPTED, PROGRAMMED]);
  });

  it("caps a message at metav1.Condition's maxLength, never splitting a character", () => {
    const long = 'spec.classes[0].name: bad; '.repeat(5000);
    const [c] = setCondition(undefined, { type: ACCEPTED, status: 'False', reason: 'Invalid', message: long }, 1, t0);
    expect(c.message.length).toBeLessThanOrEqual(CONDITION_MESSAGE_MAX);
    expect(c.message.endsWith('(truncated)')).toBe(true);
    expect(c.message.startsWith('spec.classes[0].name: bad; ')).toBe(true);
    const emoji = '😀'.repeat(CONDITION_MESSAGE_MAX);
    const capped = capMessage(emoji);
    expect(capped.length).toBeLessThanOrEqual(CONDITION_MESSAGE_MAX);
    expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(capped)).toBe(false); // no lone high surrogate
    expect(capMessage('short')).toBe('short');
  });
});

describe('statusEvents', () => {
  const status = (accepted: [string, string, string], programmed: [string, string, string], configVersion?: number): TrafficPolicyStatus => ({
    configVersion,
    conditions: [
      { type: ACCEPTED, status: accepted[0] as 'True', reason: accepted[1], message: accepted[2], lastTransitionTime: '' },
      { type: PROGRAMMED, status: programmed[0] as 'True', reason: programmed[1], message: programmed[2], lastTransitionTime: '' },
    ],
  });

  it('announces acceptance and each new config version, and nothing on a resync', () => {
    const first = status(['True', 'Accepted', 'ok'], ['True', 'Programmed', 'v1'], 1);
    expect(statusEvents(undefined, first).map((e) => e.reason)).toEqual(['Accepted', 'Programmed']);
    expect(statusEvents(first, first)).toEqual([]);
    const second = status(['True', 'Accepted', 'ok'], ['True', 'Programmed', 'v2'], 2);
    expect(statusEvents(first, second).map((e) => e.reason)).toEqual(['Programmed']);
  });

  it('warns once per distinct problem', () => {
    const ok = status(['True', 'Accepted', 'ok'], ['True', 'Programmed', 'v1'], 1);
    const invalid = status(['False', 'Invalid', 'spec.x: bad'], ['False', 'Invalid', 'kept'], 1);
    expect(statusEvents(ok, invalid)).toEqual([{ type: 'Warning', reason: 'Invalid', message: 'spec.x: bad' }]);
    expect(statusEvents(invalid, invalid)).toEqual([]);
    const invalid2 = status(['False', 'Invalid', 'spec.y: bad'], ['False', 'Invalid', 'kept'], 1);
    expect(statusEvents(invalid, invalid2).map((e) => e.message)).toEqual(['spec.y: bad']);
    const missing = status(['True', 'Accepted', 'ok'], ['False', 'TargetNotFound', 'gone'], 1);
    expect(statusEvents(ok, missing)).toEqual([{ type: 'Warning', reason: 'TargetNotFound', message: 'gone' }]);
  });
});

describe('divisionNotes: what Programmed says about a Cluster budget not divided exactly', () => {
  const doc = (limit: number) => {
    const r = parsePolicy({
      apiVersion: 'spillway.io/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'chat', namespace: 'talk' },
      spec: { targetRef: { name: 'chat' }, classes: [{ name: 'logins', match: [{ path: '/login' }], concurrency: { limit, scope: 'Cluster' } }] },
    });
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it('nothing when the limits add up', () => {
    expect(divisionNotes(compile(doc(40), 4, { readyPods: ['a', 'b', 'c', 'd'] }), 4)).toBe('');
    expect(divisionNotes(compile(doc(42), 4, { readyPods: ['a', 'b', 'c', 'd'] }), 4)).toBe('');
  });

  it('a limit below the replicas: each pod enforces 1', () => {
    expect(divisionNotes(compile(doc(3), 5), 5)).toBe('; class logins: limit 3 is below the 5 ready replicas, so each pod enforces 1 (5 in all)');
  });

  it('a list cut by the config cap: how many pods were left out', () => {
    const pods = Array.from({ length: 10_000 }, (_, i) => `${'w'.repeat(242)}-${String(i).padStart(10, '0')}`);
    const body = compile(doc(19_999), 10_000, { readyPods: pods });
    const listed = body.extraPods?.length ?? 0;
    expect(divisionNotes(body, pods.length)).toBe(`; only ${listed} of the 9999 pods due a Cluster remainder are listed (the config's size caps): the others enforce the base limit`);
  });
});

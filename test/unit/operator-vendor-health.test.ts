import { compile } from '../../api/compile.js';
import { parsePolicy } from '../../api/validate.js';
import { encodeReport } from '../../api/vendor-health.js';
import { VendorHealthTracker, failoverMessage, type ReportKey } from '../../operator/vendor-health.js';
import { captureLog } from '../support/log.js';
import { ManualClock } from './operator-fakes.js';

const policy = (activeVendor = '') => {
  const parsed = parsePolicy({
    apiVersion: 'spillway.io/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'relay', namespace: 'talk', generation: 1 },
    spec: {
      targetRef: { name: 'relay' },
      routes: [
        {
          name: 'push',
          vendors: [
            { name: 'fcm-a', url: 'http://a' },
            { name: 'fcm-b', url: 'http://b' },
          ],
          failover: { minSuccessRate: 0.9, windowSeconds: 30, minRequests: 20, cooldownSeconds: 60 },
        },
      ],
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return compile(parsed.value, 2, { activeVendors: activeVendor ? { push: activeVendor } : {} });
};

describe('VendorHealthTracker', () => {
  const clock = new ManualClock();
  let hashes: Record<string, Record<string, string>> = {};
  const reads: ReportKey[][] = [];
  const changed: string[] = [];
  const tracker = new VendorHealthTracker({
    reader: {
      async readVendorReports(keys) {
        reads.push([...keys]);
        return keys.map((k) => hashes[`${k.target}:${k.route}`] ?? {});
      },
    },
    onChange: (k) => changed.push(k),
    clock,
    intervalMs: 5000,
  });
  const report = (active: string, a: [number, number], b: [number, number]) =>
    encodeReport({ at: clock.now(), active, vendors: { 'fcm-a': { ok: a[0], fail: a[1] }, 'fcm-b': { ok: b[0], fail: b[1] } } });

  afterAll(() => tracker.stop());

  it('reads nothing and decides nothing until a policy with routes is published', async () => {
    await tracker.poll();
    expect(reads).toHaveLength(0);
    tracker.published('talk/relay', policy());
    await tracker.poll();
    expect(reads).toEqual([[{ target: 'talk/relay', route: 'push' }]]);
    // No pod reported: no choice, nothing to reconcile.
    expect(tracker.activeVendors('talk/relay')).toEqual({});
    expect(changed).toEqual([]);
  });

  it('chooses the first vendor once pods report, then moves the workload off a failing one', async () => {
    hashes = { 'talk/relay:push': { 'relay-0': report('fcm-a', [50, 0], [0, 0]), 'relay-1': report('fcm-a', [49, 1], [0, 0]) } };
    await tracker.poll();
    expect(tracker.activeVendors('talk/relay')).toEqual({ push: 'fcm-a' });
    expect(changed).toEqual(['talk/relay']);
    expect(tracker.statusVendors('talk/relay', 'push')).toEqual([
      { name: 'fcm-a', successRate: 0.99, requests: 100 },
      { name: 'fcm-b', requests: 0 },
    ]);
    tracker.published('talk/relay', policy('fcm-a'));

    // Same view again: nothing to do.
    changed.length = 0;
    await clock.advance(1000);
    hashes = { 'talk/relay:push': { 'relay-0': report('fcm-a', [50, 0], [0, 0]), 'relay-1': report('fcm-a', [49, 1], [0, 0]) } };
    await tracker.poll();
    expect(changed).toEqual([]);

    // One pod alone would not fail over (30/50 = 0.6 < 0.9 needs the sum): the sum says failing.
    hashes = { 'talk/relay:push': { 'relay-0': report('fcm-a', [30, 20], [0, 0]), 'relay-1': report('fcm-a', [31, 19], [0, 0]) } };
    await tracker.poll();
    expect(tracker.activeVendors('talk/relay')).toEqual({ push: 'fcm-b' });
    expect(changed).toEqual(['talk/relay']);
    const h = tracker.health('talk/relay', 'push');
    expect(h?.reason).toBe('failing');
    expect(failoverMessage(policy().routes[0], 'fcm-a', 'fcm-b', h)).toBe('route push: fcm-a → fcm-b (success rate 0.61 < 0.90)');
  });

  it('keeps asking for a reconcile until the choice is published', async () => {
    changed.length = 0;
    await tracker.poll();
    expect(changed).toEqual(['talk/relay']);
    tracker.published('talk/relay', policy('fcm-b'));
    changed.length = 0;
    await tracker.poll();
    expect(changed).toEqual([]);
  });

  it('ignores stale reports and keeps the choice when nobody reports', async () => {
    await clock.advance(60_000);
    await tracker.poll();
    expect(tracker.activeVendors('talk/relay')).toEqual({ push: 'fcm-b' });
  });

  it('seeds its choice from what was published (an operator restart does not reset it)', async () => {
    const fresh = new VendorHealthTracker({
      reader: { readVendorReports: async (keys) => keys.map(() => ({ p: report('fcm-b', [0, 0], [40, 0]) })) },
      onChange: () => {},
      clock,
    });
    fresh.published('talk/relay', policy('fcm-b'));
    await fresh.poll();
    expect(fresh.activeVendors('talk/relay')).toEqual({ push: 'fcm-b' });
    expect(fresh.health('talk/relay', 'push')?.changed).toBe(false);
  });

  it('survives a failed read and polls on its interval until stopped', async () => {
    let calls = 0;
    const { log, lines } = captureLog();
    const t = new VendorHealthTracker({
      reader: {
        readVendorReports: async () => {
          calls++;
          throw new Error('Connection is closed.');
        },
      },
      onChange: () => {},
      clock,
      intervalMs: 5000,
      log,
    });
    t.published('talk/relay', policy());
    t.start();
    await clock.advance(5000);
    await clock.advance(5000);
    expect(calls).toBe(2);
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: 'cannot read vendor reports; retrying next round', err: expect.objectContaining({ message: 'Connection is closed.' }) })]);
    t.stop();
    await clock.advance(20_000);
    expect(calls).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('forgets a policy that is deleted or loses its routes', async () => {
    tracker.forget('talk/relay');
    expect(tracker.activeVendors('talk/relay')).toEqual({});
    const before = reads.length;
    await tracker.poll();
    expect(reads.length).toBe(before);
  });
});

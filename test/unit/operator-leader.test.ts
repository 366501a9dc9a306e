import { LeaderElector } from '../../operator/leader.js';
import { KubeError } from '../../operator/kube-api.js';
import { FakeKube, ManualClock } from './operator-fakes.js';

function candidate(kube: Pick<FakeKube, 'getLease' | 'createLease' | 'replaceLease'>, clock: ManualClock, identity: string) {
  const log: string[] = [];
  const e = new LeaderElector(kube, {
    namespace: 'spillway-system',
    name: 'spillway-operator',
    identity,
    clock,
    onStartedLeading: () => log.push('started'),
    onStoppedLeading: () => log.push('stopped'),
  });
  return { e, log };
}

describe('LeaderElector', () => {
  it('one candidate leads, the other stands by while the lease is renewed', async () => {
    const kube = new FakeKube();
    const clock = new ManualClock();
    const a = candidate(kube, clock, 'a');
    const b = candidate(kube, clock, 'b');
    a.e.start();
    await clock.advance(1);
    b.e.start();
    await clock.advance(60_000);
    expect(a.e.isLeader()).toBe(true);
    expect(b.e.isLeader()).toBe(false);
    expect(a.log).toEqual(['started']);
    expect(b.log).toEqual([]);
    const lease = await kube.getLease('spillway-system', 'spillway-operator');
    expect(lease?.holderIdentity).toBe('a');
    expect(lease?.leaseDurationSeconds).toBe(15);
    await a.e.stop();
    await b.e.stop();
  });

  it('a standby takes a lease no longer renewed after one lease duration, not before', async () => {
    const kube = new FakeKube();
    const clock = new ManualClock();
    const a = candidate(kube, clock, 'a');
    const b = candidate(kube, clock, 'b');
    a.e.start();
    await clock.advance(1);
    b.e.start();
    await clock.advance(5_000);
    // "a" dies without releasing: its timers simply stop.
    const dead = a.e as unknown as { running: boolean; timer: unknown };
    clock.clearTimeout(dead.timer);
    dead.running = false;
    await clock.advance(12_000);
    expect(b.e.isLeader()).toBe(false);
    await clock.advance(6_000);
    expect(b.e.isLeader()).toBe(true);
    const lease = await kube.getLease('spillway-system', 'spillway-operator');
    expect(lease?.holderIdentity).toBe('b');
    expect(lease?.leaseTransitions).toBe(1);
    await b.e.stop();
  });

  it('on stop the leader releases the lease and a standby takes it at its next retry', async () => {
    const kube = new FakeKube();
    const clock = new ManualClock();
    const a = candidate(kube, clock, 'a');
    const b = candidate(kube, clock, 'b');
    a.e.start();
    await clock.advance(1);
    b.e.start();
    await clock.advance(10_000);
    await a.e.stop();
    expect(a.log).toEqual(['started', 'stopped']);
    expect((await kube.getLease('spillway-system', 'spillway-operator'))?.holderIdentity).toBe('');
    await clock.advance(2_100);
    expect(b.e.isLeader()).toBe(true);
    await b.e.stop();
  });

  it('a leader that cannot renew stops leading within the renew deadline', async () => {
    const kube = new FakeKube();
    const clock = new ManualClock();
    let broken = false;
    const flaky = {
      getLease: (ns: string, n: string) => (broken ? Promise.reject(new KubeError(503, 'unavailable')) : kube.getLease(ns, n)),
      createLease: kube.createLease.bind(kube),
      replaceLease: kube.replaceLease.bind(kube),
    };
    const a = candidate(flaky, clock, 'a');
    a.e.start();
    await clock.advance(3_000);
    expect(a.e.isLeader()).toBe(true);
    broken = true;
    await clock.advance(9_000);
    // Writes stop once the last renewal is older than the renew deadline, even between rounds.
    await clock.advance(1_500);
    expect(a.e.isLeader()).toBe(false);
    expect(a.log).toEqual(['started', 'stopped']);
    await a.e.stop();
  });

  it('refuses inconsistent timings', () => {
    const kube = new FakeKube();
    expect(
      () =>
        new LeaderElector(kube, {
          namespace: 'x',
          name: 'y',
          identity: 'a',
          leaseDurationMs: 5000,
          renewDeadlineMs: 6000,
          onStartedLeading: () => {},
          onStoppedLeading: () => {},
        }),
    ).toThrow(/lease duration > renew deadline/);
  });
});

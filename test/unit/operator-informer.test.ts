import { Informer } from '../../operator/informer.js';
import { KubeError, type WorkloadObject } from '../../operator/kube-api.js';
import { FakeKube, ManualClock, flush } from './operator-fakes.js';

function setup() {
  const kube = new FakeKube();
  const clock = new ManualClock();
  const seen: string[] = [];
  const inf = new Informer<WorkloadObject>('deployments', kube.deployments, undefined, { clock, minBackoffMs: 100, maxBackoffMs: 1000 });
  inf.addHandlers({
    onAdd: (o) => seen.push(`add ${o.metadata.name} ${o.readyReplicas}`),
    onUpdate: (_a, b) => seen.push(`update ${b.metadata.name} ${b.readyReplicas}`),
    onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
  });
  return { kube, clock, seen, inf };
}

describe('Informer', () => {
  it('lists, then follows the watch', async () => {
    const { kube, seen, inf } = setup();
    kube.setWorkload('Deployment', 'talk', 'chat', 2);
    inf.start();
    await flush();
    expect(inf.hasSynced()).toBe(true);
    expect(kube.deployments.watchers).toBe(1);
    kube.setWorkload('Deployment', 'talk', 'chat', 4);
    kube.setWorkload('Deployment', 'talk', 'relay', 1);
    kube.deleteWorkload('Deployment', 'talk', 'relay');
    expect(seen).toEqual(['add chat 2', 'update chat 4', 'add relay 1', 'delete relay']);
    expect(inf.get('talk', 'chat')?.readyReplicas).toBe(4);
    expect(inf.list()).toHaveLength(1);
    inf.stop();
    expect(kube.deployments.watchers).toBe(0);
  });

  it('lists again on 410 Gone and reports what changed meanwhile', async () => {
    const { kube, seen, inf } = setup();
    kube.setWorkload('Deployment', 'talk', 'chat', 2);
    kube.setWorkload('Deployment', 'talk', 'old', 1);
    inf.start();
    await flush();
    kube.deployments.endWatches(null);
    // Changes the informer misses while it is not watching...
    kube.deployments.items.delete('talk/old');
    kube.deployments.items.set('talk/chat', { kind: 'Deployment', metadata: { namespace: 'talk', name: 'chat', resourceVersion: '999' }, readyReplicas: 3 });
    seen.length = 0;
    const lists = kube.deployments.listCalls;
    // ...then the version it resumes from has expired.
    (kube.deployments as unknown as { watch: unknown }).watch = async (_ns: string, _rv: string, _e: unknown, onDone: (err: unknown) => void) => {
      setImmediate(() => onDone(new KubeError(410, 'too old resource version')));
      return { stop: () => {} };
    };
    const { clock } = { clock: (inf as unknown as { clock: ManualClock }).clock };
    await clock.advance(100);
    await flush();
    expect(kube.deployments.listCalls).toBeGreaterThan(lists);
    expect(seen.slice(0, 2).sort()).toEqual(['delete old', 'update chat 3']);
    inf.stop();
  });

  it('reconnects with capped exponential backoff when the server is unreachable', async () => {
    const { kube, clock, inf } = setup();
    kube.deployments.failLists = 5;
    inf.start();
    await flush();
    expect(kube.deployments.listCalls).toBe(1);
    expect(inf.hasSynced()).toBe(false);
    await clock.advance(100);
    expect(kube.deployments.listCalls).toBe(2);
    await clock.advance(200);
    expect(kube.deployments.listCalls).toBe(3);
    await clock.advance(400);
    expect(kube.deployments.listCalls).toBe(4);
    await clock.advance(800);
    expect(kube.deployments.listCalls).toBe(5);
    await clock.advance(999);
    expect(kube.deployments.listCalls).toBe(5);
    await clock.advance(1);
    expect(kube.deployments.listCalls).toBe(6);
    expect(inf.hasSynced()).toBe(true);
    inf.stop();
  });
});

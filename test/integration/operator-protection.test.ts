/**
 * Unprotected pods (item: the webhook fails open) through the controller: a fake API server
 * with pods, a real private redis-server. A ready pod of the target without the sidecar shows
 * in status.unprotectedReplicas, the Protected condition, a Warning event and the metric; it
 * clears when the pod goes or gets the sidecar.
 */
import { FakeKube } from '../unit/operator-fakes.js';
import { startOperatorStack, waitFor, type OperatorStack } from './operator-support.js';

const spec = {
  targetRef: { kind: 'Deployment', name: 'chat' },
  classes: [{ name: 'send-message', match: [{ method: 'POST', pathPrefix: '/messages' }], priority: 90, concurrency: { limit: 200, scope: 'Pod' } }],
};

describe('operator: unprotected pods (fake API server, real Redis)', () => {
  let op: OperatorStack;
  const kube = new FakeKube();

  const status = () => kube.getPolicy('talk', 'chat')?.status;
  const protectedCond = () => status()?.conditions?.find((c) => c.type === 'Protected');
  const gauge = async () => (await op.metrics.unprotectedReplicas.get()).values.find((v) => v.labels.policy_namespace === 'talk' && v.labels.policy === 'chat')?.value;
  const protectionEvents = () => kube.events.filter((e) => e.reason === 'UnprotectedPods' || e.reason === 'AllPodsProtected').map((e) => [e.type, e.reason]);

  beforeAll(async () => {
    op = await startOperatorStack(kube);
  });

  afterAll(() => op.stop());

  it('reports ready pods of the target without the sidecar, and clears when they go', async () => {
    kube.setWorkload('Deployment', 'talk', 'chat', 2);
    kube.setPod('talk', 'chat-1', { app: 'chat', sidecar: true });
    kube.setPod('talk', 'chat-2', { app: 'chat', sidecar: true });
    kube.setPod('talk', 'other-1', { app: 'other' }); // not the target's
    kube.applyPolicy({ name: 'chat', spec });
    await waitFor('Protected=True', () => protectedCond()?.status === 'True');
    expect(status()?.unprotectedReplicas).toBe(0);
    expect(await gauge()).toBe(0);
    expect(protectionEvents()).toEqual([]); // nothing to say while all is well

    // Created while the webhook was unreachable: no sidecar. Not ready yet: not counted.
    kube.setPod('talk', 'chat-bare', { app: 'chat', ready: false });
    await new Promise((r) => setTimeout(r, 200));
    expect(status()?.unprotectedReplicas).toBe(0);
    kube.setPod('talk', 'chat-bare', { app: 'chat', ready: true });
    await waitFor('Protected=False', () => protectedCond()?.status === 'False');
    expect(status()?.unprotectedReplicas).toBe(1);
    expect(protectedCond()).toMatchObject({ reason: 'UnprotectedPods', message: expect.stringContaining('chat-bare') });
    expect(await gauge()).toBe(1);
    expect(protectionEvents()).toEqual([['Warning', 'UnprotectedPods']]);

    // A second one: the count moves, no second Warning while it stays False.
    kube.setPod('talk', 'chat-bare-2', { app: 'chat' });
    await waitFor('2 unprotected', () => status()?.unprotectedReplicas === 2);
    expect(protectedCond()?.message).toMatch(/chat-bare, chat-bare-2/);
    expect(protectionEvents()).toEqual([['Warning', 'UnprotectedPods']]);

    // One is recreated with the sidecar, the other deleted.
    kube.setPod('talk', 'chat-bare', { app: 'chat', sidecar: true });
    kube.deletePod('talk', 'chat-bare-2');
    await waitFor('Protected=True again', () => protectedCond()?.status === 'True');
    expect(status()?.unprotectedReplicas).toBe(0);
    expect(await gauge()).toBe(0);
    expect(protectionEvents()).toEqual([['Warning', 'UnprotectedPods'], ['Normal', 'AllPodsProtected']]);
  });

  it('drops the metric when the policy is deleted', async () => {
    kube.deletePolicy('talk', 'chat');
    await waitFor('policy gone', () => kube.getPolicy('talk', 'chat') === undefined);
    await waitFor('metric dropped', async () => (await gauge()) === undefined);
  });
});

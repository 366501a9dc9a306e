/**
 * Cluster remainders through the controller (fake API server, real redis-server): the operator
 * lists the first ready pods with the sidecar, by name, in the published config (extraPods);
 * it republishes when a pod is replaced (same count, other names), not when a pod changes that
 * the list does not reach; a limit below the replicas is said in the Programmed condition.
 */
import type { CompiledConfig } from '../../api/config.js';
import { parseConfig } from '../../api/validate.js';
import { FakeKube } from '../unit/operator-fakes.js';
import { startOperatorStack, storedConfig, waitFor, type OperatorStack } from './operator-support.js';

const spec = (limit: number) => ({
  targetRef: { kind: 'Deployment', name: 'chat' },
  classes: [
    { name: 'background-login', match: [{ method: 'POST', path: '/login' }], priority: 10, concurrency: { limit, scope: 'Cluster' } },
    { name: 'send-message', match: [{ method: 'POST', pathPrefix: '/messages' }], priority: 90, concurrency: { limit: 200, scope: 'Pod' } },
  ],
});

describe('operator: the pods that take a Cluster remainder (fake API server, real Redis)', () => {
  let op: OperatorStack;
  const kube = new FakeKube();

  const stored = async (): Promise<CompiledConfig | null> => {
    const c = await storedConfig(op.client, 'talk/chat');
    // What a sidecar reads must pass its strict schema.
    if (c !== null && !parseConfig(c).ok) throw new Error(`published config refused: ${JSON.stringify(parseConfig(c))}`);
    return c;
  };
  const unchangedReconciles = async () => (await op.metrics.reconcileTotal.get()).values.find((v) => v.labels.result === 'unchanged')?.value ?? 0;
  const programmed = () => kube.getPolicy('talk', 'chat')?.status?.conditions?.find((c) => c.type === 'Programmed');

  beforeAll(async () => {
    op = await startOperatorStack(kube);
  });

  afterAll(() => op.stop());

  it('lists the first ready pods with the sidecar by name, and republishes when one is replaced', async () => {
    kube.setWorkload('Deployment', 'talk', 'chat', 3);
    for (const name of ['chat-c', 'chat-b', 'chat-a']) kube.setPod('talk', name, { app: 'chat', sidecar: true });
    kube.setPod('talk', 'chat-0-bare', { app: 'chat' }); // no sidecar: enforces nothing, never listed
    kube.setPod('talk', 'chat-00-starting', { app: 'chat', sidecar: true, ready: false });
    kube.setPod('talk', 'other-0', { app: 'other', sidecar: true }); // not the target's
    // 20 over 3: 6 each, and 7 in the first 2.
    kube.applyPolicy({ name: 'chat', spec: spec(20) });
    const first = await waitFor('published with extraPods', async () => {
      const c = await stored();
      return c?.extraPods?.length === 2 ? c : undefined;
    });
    expect(first.classes[0]).toMatchObject({ limit: 6, extra: 2, policyLimit: 20 });
    expect(first.extraPods).toEqual(['chat-a', 'chat-b']);

    // chat-a is replaced by chat-d: three ready pods still, other names.
    kube.deletePod('talk', 'chat-a');
    kube.setPod('talk', 'chat-d', { app: 'chat', sidecar: true });
    const second = await waitFor('republished for the new pod set', async () => {
      const c = await stored();
      return c && c.version > first.version && c.extraPods?.join() === 'chat-b,chat-c' ? c : undefined;
    });
    expect(second.readyReplicas).toBe(3);

    // A pod beyond the list is replaced by another beyond it: reconciled, nothing republished.
    const before = await unchangedReconciles();
    kube.deletePod('talk', 'chat-d');
    kube.setPod('talk', 'chat-z', { app: 'chat', sidecar: true });
    await waitFor('a reconcile that changed nothing', async () => (await unchangedReconciles()) > before);
    expect((await stored())?.version).toBe(second.version);

    // The list's pod goes unready: the next one by name takes its place.
    kube.setPod('talk', 'chat-b', { app: 'chat', sidecar: true, ready: false });
    await waitFor('chat-b dropped from the list', async () => (await stored())?.extraPods?.join() === 'chat-c,chat-z');
  });

  it('divides over the ready pods seen when the workload status has not counted them yet (never over the limit)', async () => {
    for (const name of ['chat-b', 'chat-c', 'chat-z']) kube.deletePod('talk', name);
    kube.setWorkload('Deployment', 'talk', 'chat', 2);
    for (const name of ['chat-p', 'chat-q']) kube.setPod('talk', name, { app: 'chat', sidecar: true });
    kube.applyPolicy({ name: 'chat', spec: spec(20) });
    await waitFor('divided over 2', async () => (await stored())?.readyReplicas === 2);
    // A third pod turns ready; the Deployment's status still says 2.
    kube.setPod('talk', 'chat-r', { app: 'chat', sidecar: true });
    const c = await waitFor('divided over 3', async () => {
      const x = await stored();
      return x?.readyReplicas === 3 ? x : undefined;
    });
    // 20 over 3: 6, 7 in the first 2 (chat-p, chat-q); 7 + 7 + 6 = 20, where 2 would have given 10 each, 30 in all.
    expect(c.classes[0]).toMatchObject({ limit: 6, extra: 2 });
    expect(c.extraPods).toEqual(['chat-p', 'chat-q']);
  });

  it('no remainder, no list; a limit below the replicas says each pod enforces 1', async () => {
    kube.setWorkload('Deployment', 'talk', 'chat', 4);
    kube.applyPolicy({ name: 'chat', spec: spec(40) });
    await waitFor('published without extraPods', async () => {
      const c = await stored();
      return c?.classes[0].policyLimit === 40 && c.readyReplicas === 4 && !('extraPods' in c);
    });
    expect(programmed()?.message).not.toMatch(/below/);
    kube.applyPolicy({ name: 'chat', spec: spec(3) });
    await waitFor('the Programmed message says so', () => /class background-login: limit 3 is below the 4 ready replicas, so each pod enforces 1 \(4 in all\)/.test(programmed()?.message ?? ''));
    const c = await stored();
    expect(c?.classes[0]).toMatchObject({ limit: 1, extra: 0 });
    expect(c).not.toHaveProperty('extraPods');
  });
});

/**
 * The controller (informers, queue, reconcile) against a fake Kubernetes API and a real
 * private redis-server: publishing, versions, status, events and every unhappy path.
 */
import { Redis } from 'ioredis';
import { Controller } from '../../operator/controller.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { RedisPublisher, VERSION_KEY_PREFIX } from '../../operator/publisher.js';
import { FINALIZER } from '../../operator/reconcile.js';
import { RedisServer } from '../support/redis.js';
import { FakeKube } from '../unit/operator-fakes.js';
import { storedConfig, waitFor } from './operator-support.js';

const spec = (over: Record<string, unknown> = {}) => ({
  targetRef: { kind: 'Deployment', name: 'chat' },
  classes: [
    { name: 'background-login', match: [{ method: 'POST', path: '/login' }], priority: 10, concurrency: { limit: 40, scope: 'Cluster' } },
    { name: 'send-message', match: [{ method: 'POST', pathPrefix: '/messages' }], priority: 90, concurrency: { limit: 200, scope: 'Pod' } },
  ],
  ...over,
});

describe('operator reconcile (fake API server, real Redis)', () => {
  let redis: RedisServer;
  let client: Redis;
  let sub: Redis;
  let publisher: RedisPublisher;
  let controller: Controller;
  let metrics: OperatorMetrics;
  const kube = new FakeKube();
  const messages: string[] = [];
  /** Per-workload Redis users, recorded (operator/workload-users.ts has its own tests). */
  const users = { ensured: [] as string[], removed: [] as string[] };
  const workloadUsers = {
    ensure: async (w: string) => void users.ensured.push(w),
    remove: async (w: string) => void users.removed.push(w),
  };

  const stored = (target = 'talk/chat') => storedConfig(client, target);
  const cond = (name: string, type: string) => kube.getPolicy('talk', name)?.status?.conditions?.find((c) => c.type === type);
  const published = async () => (await metrics.publishedTotal.get()).values[0]?.value ?? 0;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    client.on('error', () => {});
    sub = new Redis(redis.url, { retryStrategy: () => 100 });
    sub.on('error', () => {});
    await sub.subscribe('spillway:config');
    sub.on('message', (_ch, msg: string) => messages.push(msg));
    metrics = new OperatorMetrics();
    publisher = new RedisPublisher(redis.url, { onReady: () => controller?.enqueueAll() });
    controller = new Controller({ kube, publisher, metrics, workers: 2, workloadUsers });
    controller.startInformers();
    controller.startWorkers();
  });

  afterAll(async () => {
    await controller.stop();
    await publisher.close();
    client.disconnect();
    sub.disconnect();
    await redis.stop();
  });

  it('publishes the compiled config, adds the finalizer and reports status and events', async () => {
    kube.setWorkload('Deployment', 'talk', 'chat', 2);
    kube.applyPolicy({ name: 'chat', spec: spec() });
    const doc = await waitFor('config', () => stored());
    expect(doc.version).toBe(1);
    expect(doc.policy).toBe('talk/chat');
    expect(doc.readyReplicas).toBe(2);
    expect(doc.classes.map((c) => [c.name, c.limit])).toEqual([
      ['background-login', 20],
      ['send-message', 200],
      ['default', 100],
    ]);
    await waitFor('message', () => messages.includes('talk/chat'));
    await waitFor('Programmed', () => cond('chat', 'Programmed')?.status === 'True');
    const p = kube.getPolicy('talk', 'chat');
    expect(p?.metadata.finalizers).toEqual([FINALIZER]);
    expect(p?.status).toMatchObject({
      observedGeneration: 1,
      configVersion: 1,
      readyReplicas: 2,
      classes: [
        { name: 'background-login', podLimit: 20 },
        { name: 'send-message', podLimit: 200 },
        { name: 'default', podLimit: 100 },
      ],
    });
    expect(cond('chat', 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted', observedGeneration: 1 });
    expect(kube.events.filter((e) => e.policy.metadata.name === 'chat').map((e) => e.reason)).toEqual(['Accepted', 'Programmed']);
  });

  it('does not republish or rewrite status when nothing changed', async () => {
    const before = { published: await published(), writes: kube.statusWrites.length, messages: messages.length, events: kube.events.length };
    const total = async () => (await metrics.reconcileTotal.get()).values.reduce((s, v) => s + v.value, 0);
    const reconciles = await total();
    controller.enqueueAll();
    await waitFor('a resync', async () => (await total()) > reconciles);
    await new Promise((r) => setTimeout(r, 200));
    expect((await stored())?.version).toBe(1);
    expect(await published()).toBe(before.published);
    expect(kube.statusWrites.length).toBe(before.writes);
    expect(messages.length).toBe(before.messages);
    expect(kube.events.length).toBe(before.events);
  });

  it('re-divides Cluster budgets when ready replicas change (2 → 4) within 2 s', async () => {
    const t0 = Date.now();
    kube.setWorkload('Deployment', 'talk', 'chat', 4);
    const doc = await waitFor('re-divided config', async () => {
      const d = await stored();
      return d && d.readyReplicas === 4 ? d : undefined;
    });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(doc.version).toBe(2);
    expect(doc.classes[0]).toMatchObject({ name: 'background-login', limit: 10, extra: 0, policyLimit: 40 });
    expect(doc.classes[1].limit).toBe(200);
    await waitFor('status', () => kube.getPolicy('talk', 'chat')?.status?.readyReplicas === 4);
    expect(kube.getPolicy('talk', 'chat')?.status?.classes?.[0]).toEqual({ name: 'background-login', podLimit: 10 });
  });

  it('refuses an invalid edit naming the field, and keeps the last good config in Redis', async () => {
    const before = await stored();
    const transition = cond('chat', 'Accepted')?.lastTransitionTime;
    kube.applyPolicy({
      name: 'chat',
      spec: spec({ classes: [{ name: 'background-login', match: [{ path: '/login' }], concurrency: { limit: 0 } }] }),
    });
    const accepted = await waitFor('Accepted=False', () => (cond('chat', 'Accepted')?.status === 'False' ? cond('chat', 'Accepted') : undefined));
    expect(accepted.reason).toBe('Invalid');
    expect(accepted.message).toContain('spec.classes[0].concurrency.limit');
    expect(accepted.observedGeneration).toBe(2);
    expect(accepted.lastTransitionTime).not.toBe(transition);
    expect(kube.getPolicy('talk', 'chat')?.status?.configVersion).toBe(before?.version);
    expect(await stored()).toEqual(before);
    expect(kube.events.some((e) => e.reason === 'Invalid' && e.message.includes('spec.classes[0].concurrency.limit'))).toBe(true);

    kube.applyPolicy({ name: 'chat', spec: spec() });
    await waitFor('accepted again', () => cond('chat', 'Accepted')?.status === 'True');
    const doc = await waitFor('new version', async () => {
      const d = await stored();
      return d && d.generation === 3 ? d : undefined;
    });
    expect(doc.version).toBe(3);
  });

  it('a second policy on the same target loses to the older one with Conflict', async () => {
    kube.applyPolicy({ name: 'chat-2', spec: spec({ defaultClass: { concurrency: { limit: 7 } } }) });
    const c = await waitFor('Conflict', () => (cond('chat-2', 'Accepted')?.status === 'False' ? cond('chat-2', 'Accepted') : undefined));
    expect(c.reason).toBe('Conflict');
    expect(c.message).toContain('TrafficPolicy chat');
    expect((await stored())?.policy).toBe('talk/chat');
    expect(cond('chat', 'Accepted')?.status).toBe('True');
    expect(kube.events.some((e) => e.policy.metadata.name === 'chat-2' && e.reason === 'Conflict')).toBe(true);
    // The workload's Redis user is the winner's; the loser never removes it.
    expect(users.ensured).toContain('talk/chat');
    expect(users.removed).toEqual([]);
  });

  it('a missing target is reported and nothing is published', async () => {
    kube.applyPolicy({ name: 'orphan', spec: spec({ targetRef: { kind: 'StatefulSet', name: 'nothere' } }) });
    const p = await waitFor('TargetNotFound', () => (cond('orphan', 'Programmed')?.status === 'False' ? cond('orphan', 'Programmed') : undefined));
    expect(p.reason).toBe('TargetNotFound');
    expect(p.message).toContain('StatefulSet talk/nothere');
    expect(cond('orphan', 'Accepted')?.status).toBe('True');
    expect(await stored('talk/nothere')).toBeNull();
    // Its Redis user and Secret already, so the workload's first pods start with them.
    await waitFor('user made before the target exists', () => users.ensured.includes('talk/nothere'));
    // The target appears: published at once.
    kube.setWorkload('StatefulSet', 'talk', 'nothere', 3);
    await waitFor('published', () => stored('talk/nothere'));
    await waitFor('Programmed', () => cond('orphan', 'Programmed')?.status === 'True');
  });

  it('a policy whose target never appeared takes its Redis user with it when deleted', async () => {
    kube.applyPolicy({ name: 'ghost', spec: spec({ targetRef: { kind: 'Deployment', name: 'never' } }) });
    await waitFor('user made', () => users.ensured.includes('talk/never'));
    kube.deletePolicy('talk', 'ghost');
    await waitFor('user removed', () => users.removed.includes('talk/never'));
  });

  it('deleting a policy removes its key through the finalizer; the version keeps growing', async () => {
    const last = (await stored())?.version ?? 0;
    messages.length = 0;
    kube.deletePolicy('talk', 'chat');
    await waitFor('policy gone', () => !kube.getPolicy('talk', 'chat'));
    expect(messages).toContain('talk/chat');
    // The conflicting policy now governs the target, at a higher version than anything before.
    const doc = await waitFor('the other policy published', async () => {
      const d = await stored();
      return d && d.policy === 'talk/chat-2' ? d : undefined;
    });
    expect(doc.version).toBeGreaterThan(last);
    await waitFor('chat-2 accepted', () => cond('chat-2', 'Accepted')?.status === 'True');
    // A handover to another policy keeps the workload's Redis user (its pods hold the password).
    expect(users.removed).not.toContain('talk/chat');

    kube.deletePolicy('talk', 'chat-2');
    await waitFor('key removed', async () => (await stored()) === null);
    // The last policy gone: the user and its Secret go too.
    await waitFor('user removed', () => users.removed.includes('talk/chat'));
    expect(Number(await client.get(`${VERSION_KEY_PREFIX}talk/chat`))).toBe(doc.version);
    kube.applyPolicy({ name: 'chat', spec: spec() });
    const again = await waitFor('re-created', () => stored());
    expect(again.version).toBe(doc.version + 1);
  });

  it('retargeting a policy moves its config to the new workload', async () => {
    kube.setWorkload('Deployment', 'talk', 'relay', 1);
    kube.applyPolicy({ name: 'chat', spec: spec({ targetRef: { kind: 'Deployment', name: 'relay' } }) });
    const doc = await waitFor('published for relay', () => stored('talk/relay'));
    expect(doc.policy).toBe('talk/chat');
    await waitFor('old key removed', async () => (await stored()) === null);
    // Retargeted: the new workload's user is made, the old one's removed.
    expect(users.ensured).toContain('talk/relay');
    await waitFor('old user removed', () => users.removed.filter((w) => w === 'talk/chat').length === 2);
    kube.applyPolicy({ name: 'chat', spec: spec() });
    await waitFor('back on chat', () => stored());
    await waitFor('relay key removed', async () => (await stored('talk/relay')) === null);
  });

  it('Redis down: Programmed=False RedisUnavailable, then caught up when it returns', async () => {
    await waitFor('chat programmed', () => cond('chat', 'Programmed')?.status === 'True');
    await redis.stop();
    kube.setWorkload('Deployment', 'talk', 'chat', 5);
    const p = await waitFor('RedisUnavailable', () => (cond('chat', 'Programmed')?.status === 'False' ? cond('chat', 'Programmed') : undefined));
    expect(p.reason).toBe('RedisUnavailable');
    expect(cond('chat', 'Accepted')?.status).toBe('True');
    expect(kube.events.some((e) => e.reason === 'RedisUnavailable')).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();
    const doc = await waitFor('caught up', async () => {
      try {
        const d = await stored();
        return d && d.readyReplicas === 5 ? d : undefined;
      } catch {
        return undefined;
      }
    }, 15_000);
    expect(doc.classes[0].limit).toBe(8);
    await waitFor('Programmed again', () => cond('chat', 'Programmed')?.status === 'True');
  });
  it('status marks the classes in Shadow mode and those with an adaptive limit', async () => {
    kube.setWorkload('Deployment', 'talk', 'shadowed', 1);
    kube.applyPolicy({
      name: 'shadowed',
      spec: spec({
        targetRef: { kind: 'Deployment', name: 'shadowed' },
        mode: 'Shadow',
        classes: [
          { name: 'send-message', match: [{ pathPrefix: '/messages' }], concurrency: { limit: 20, adaptive: { minLimit: 2, maxLimit: 80 } }, mode: 'Enforce' },
        ],
      }),
    });
    await waitFor('Programmed', () => cond('shadowed', 'Programmed')?.status === 'True');
    expect(kube.getPolicy('talk', 'shadowed')?.status?.classes).toEqual([
      { name: 'send-message', podLimit: 20, adaptive: true },
      { name: 'default', podLimit: 100, mode: 'Shadow' },
    ]);
  });
});

describe('operator reconcile restricted to namespaces', () => {
  it('ignores policies outside the watched namespaces', async () => {
    const redis = await RedisServer.start();
    const client = new Redis(redis.url);
    const kube = new FakeKube();
    const publisher = new RedisPublisher(redis.url);
    const controller = new Controller({ kube, publisher, metrics: new OperatorMetrics(), namespaces: ['talk', 'push'] });
    try {
      kube.setWorkload('Deployment', 'talk', 'chat', 1);
      kube.setWorkload('Deployment', 'other', 'chat', 1);
      kube.applyPolicy({ name: 'chat', namespace: 'talk', spec: spec() });
      kube.applyPolicy({ name: 'chat', namespace: 'other', spec: spec() });
      controller.startInformers();
      controller.startWorkers();
      await waitFor('talk published', () => client.get('spillway:config:talk/chat'));
      await new Promise((r) => setTimeout(r, 300));
      expect(await client.get('spillway:config:other/chat')).toBeNull();
      expect(kube.getPolicy('other', 'chat')?.status).toBeUndefined();
    } finally {
      await controller.stop();
      await publisher.close();
      client.disconnect();
      await redis.stop();
    }
  });
});

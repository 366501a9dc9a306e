/**
 * What must survive losing state: versions never go back after Redis lost its data (sidecars
 * ignore a version they have passed), and a retarget or delete done while no operator ran still
 * removes the old key (status.publishedTarget). Fake API server, real redis-server.
 */
import { Redis } from 'ioredis';
import { Controller } from '../../operator/controller.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { RedisPublisher } from '../../operator/publisher.js';
import { RedisServer } from '../support/redis.js';
import { FakeKube } from '../unit/operator-fakes.js';
import { storedConfig, waitFor } from './operator-support.js';

const spec = (target: string, limit = 40) => ({
  targetRef: { kind: 'Deployment', name: target },
  classes: [{ name: 'login', match: [{ path: '/login' }], concurrency: { limit, scope: 'Cluster' } }],
});

describe('operator state that must survive (fake API server, real Redis)', () => {
  let redis: RedisServer;
  let client: Redis;
  let publisher: RedisPublisher;
  const kube = new FakeKube();
  const running: Controller[] = [];

  const stored = (target: string) => storedConfig(client, target);
  /** Started and synced: the fake's watch does not replay what happened before it was opened. */
  const start = async (): Promise<Controller> => {
    const c = new Controller({ kube, publisher, metrics: new OperatorMetrics(), workers: 2, vendorHealthIntervalMs: 0, dataLossCheckMs: 200 });
    c.startInformers();
    c.startWorkers();
    running.push(c);
    await waitFor('informers synced', () => c.hasSynced());
    await new Promise((r) => setTimeout(r, 50));
    return c;
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    publisher = new RedisPublisher(redis.url);
    kube.setWorkload('Deployment', 'talk', 'chat', 2);
    kube.setWorkload('Deployment', 'talk', 'relay', 2);
  });

  afterAll(async () => {
    for (const c of running) await c.stop();
    await publisher.close();
    client.disconnect();
    await redis.stop();
  });

  it('after Redis lost its data, the next version is still above what status reported', async () => {
    await start();
    kube.applyPolicy({ name: 'chat', spec: spec('chat') });
    await waitFor('v1', async () => (await stored('talk/chat'))?.version === 1);
    kube.applyPolicy({ name: 'chat', spec: spec('chat', 60) });
    await waitFor('v2', async () => (await stored('talk/chat'))?.version === 2);
    await waitFor('status v2', () => kube.getPolicy('talk', 'chat')?.status?.configVersion === 2);

    await client.flushall();
    // Noticed by the marker check (no resync, no reconnect): the same body is written back
    // above the floor, not at version 1.
    const back = await waitFor('rewritten', () => stored('talk/chat'), 5000);
    expect(back.version).toBe(3);
    kube.applyPolicy({ name: 'chat', spec: spec('chat', 80) });
    const next = await waitFor('edit after the flush', async () => {
      const d = await stored('talk/chat');
      return d && d.classes[0].policyLimit === 80 ? d : undefined;
    });
    expect(next.version).toBe(4);
    expect(Number(await client.get('spillway:config-version:talk/chat'))).toBe(4);
    await waitFor('status v4', () => kube.getPolicy('talk', 'chat')?.status?.configVersion === 4);
    expect(kube.getPolicy('talk', 'chat')?.status?.publishedTarget).toBe('talk/chat');
  });

  it('a retarget made while the operator was down removes the old key once it is back', async () => {
    await running.pop()?.stop();
    kube.applyPolicy({ name: 'chat', spec: spec('relay') });
    await start();
    await waitFor('published for relay', () => stored('talk/relay'));
    await waitFor('old key removed', async () => (await stored('talk/chat')) === null);
    await waitFor('status names relay', () => kube.getPolicy('talk', 'chat')?.status?.publishedTarget === 'talk/relay');
  });

  it('a policy whose target vanished records that nothing is published any more', async () => {
    await running.pop()?.stop();
    const c = await start();
    kube.deleteWorkload('Deployment', 'talk', 'relay');
    await waitFor('relay key removed', async () => (await stored('talk/relay')) === null);
    await waitFor('publishedTarget cleared', () => kube.getPolicy('talk', 'chat')?.status?.publishedTarget === '');
    kube.setWorkload('Deployment', 'talk', 'relay', 1);
    await waitFor('published again', () => stored('talk/relay'));
    await c.stop();
  });
});

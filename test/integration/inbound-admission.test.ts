/** Admission through the real proxy: budgets, queue, load-level shedding, refusals, config changes. */
import { Agent } from 'node:http';
import type { Registry } from 'prom-client';
import type { Inbound } from '../../sidecar/inbound.js';
import { classState, closeProxyUnderTest, compiled, metric, send, startInbound, startProxyUnderTest, Upstream, waitFor, type Reply } from './inbound-support.js';

describe('inbound admission', () => {
  let up: Upstream;
  let inbound: Inbound;
  let registry: Registry;
  const agents: Agent[] = [];

  beforeEach(async () => ({ up, inbound, registry } = await startProxyUnderTest()));
  afterEach(() => closeProxyUnderTest({ up, inbound, registry }, agents));

  it('a class budget holds exactly under concurrency: 50 at once to a limit of 5', async () => {
    inbound.apply(compiled({ classes: [{ name: 'five', match: [{ pathPrefix: '/five' }], concurrency: { limit: 5 } }] }));
    const replies: Reply[] = [];
    const all = Array.from({ length: 50 }, (_, i) => send(inbound.port, { path: `/five/${i}` }).then((r) => replies.push(r)));
    await waitFor(() => replies.length === 45, '45 refusals');
    expect(up.active).toBe(5);
    expect(classState(inbound, 'five').inflight).toBe(5);
    expect(replies.every((r) => r.status === 503 && r.headers['x-spillway-reason'] === 'capacity')).toBe(true);
    up.release();
    await Promise.all(all);
    expect(up.maxActive).toBe(5);
    expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
    expect(classState(inbound, 'five').inflight).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="five",outcome="capacity"}')).toBe(45);
    expect(await metric(registry, 'spillway_limit{class="five"}')).toBe(5);
  });

  it('queued requests are admitted in arrival order as slots free', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 }, queue: { size: 10, timeoutMs: 20_000 } } }));
    const done = [send(inbound.port, { path: '/first' })];
    await waitFor(() => up.held.length === 1, 'first held');
    for (let i = 1; i <= 5; i++) {
      done.push(send(inbound.port, { path: `/q${i}` }));
      await waitFor(() => classState(inbound, 'default').queued === i, `q${i} queued`);
    }
    expect(await metric(registry, 'spillway_queue_length{class="default"}')).toBe(5);
    for (let i = 1; i <= 5; i++) {
      up.release(1);
      await waitFor(() => up.arrivals.length === i + 1, `q${i} admitted`);
      expect(up.active).toBeLessThanOrEqual(1);
    }
    up.release();
    expect((await Promise.all(done)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(up.arrivals).toEqual(['/first', '/q1', '/q2', '/q3', '/q4', '/q5']);
  });

  it('queue timeout answers 503 queue-timeout; a full queue answers capacity at once', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 }, queue: { size: 2, timeoutMs: 200 } } }));
    const first = send(inbound.port);
    await waitFor(() => up.held.length === 1, 'first held');
    const started = Date.now();
    const queued = [send(inbound.port), send(inbound.port)];
    await waitFor(() => classState(inbound, 'default').queued === 2, 'two queued');
    const full = await send(inbound.port);
    expect(full.headers['x-spillway-reason']).toBe('capacity');
    const timedOut = await Promise.all(queued);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    for (const r of timedOut) {
      expect(r.status).toBe(503);
      expect(r.headers['x-spillway-reason']).toBe('queue-timeout');
    }
    expect(classState(inbound, 'default')).toMatchObject({ inflight: 1, queued: 0 });
    up.release();
    expect((await first).status).toBe(200);
    expect(up.arrivals).toHaveLength(1);
  });

  it('a client that gives up while queued leaves the queue and is never sent upstream', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 }, queue: { size: 5, timeoutMs: 20_000 } } }));
    const first = send(inbound.port);
    await waitFor(() => up.held.length === 1, 'first held');
    const agent = new Agent({ keepAlive: false });
    agents.push(agent);
    const gone = send(inbound.port, { path: '/gone', agent }).catch(() => 'aborted');
    await waitFor(() => classState(inbound, 'default').queued === 1, 'queued');
    agent.destroy();
    await gone;
    await waitFor(() => classState(inbound, 'default').queued === 0, 'left the queue');
    up.release();
    await first;
    expect(up.arrivals).toEqual(['/']);
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="aborted"}')).toBe(1);
  });

  it('refusals: class status, Retry-After, x-spillway headers, JSON body, no upstream work, keep-alive kept', async () => {
    inbound.apply(compiled({ classes: [{ name: 'tight', match: [{ pathPrefix: '/t' }], concurrency: { limit: 1 }, rejectStatus: 429 }] }));
    const held = send(inbound.port, { path: '/t/held' });
    await waitFor(() => up.held.length === 1, 'held');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    let connections = 0;
    const origCreate = agent.createConnection.bind(agent);
    agent.createConnection = ((...args: Parameters<typeof origCreate>) => {
      connections++;
      return origCreate(...args);
    }) as typeof agent.createConnection;
    for (let i = 0; i < 5; i++) {
      const r = await send(inbound.port, { method: 'POST', path: '/t/x', body: 'small body', agent });
      expect(r.status).toBe(429);
      expect(r.headers['x-spillway-class']).toBe('tight');
      expect(r.headers['x-spillway-reason']).toBe('capacity');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number.isInteger(Number(r.headers['retry-after']))).toBe(true);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toEqual({ error: 'overloaded', class: 'tight', reason: 'capacity' });
    }
    expect(connections).toBe(1);
    const big = await send(inbound.port, { method: 'POST', path: '/t/x', body: Buffer.alloc(1024 * 1024), agent });
    expect(big.status).toBe(429);
    expect(big.headers.connection).toBe('close');
    expect(up.arrivals).toEqual(['/t/held']);
    up.release();
    await held;
  });

  it('sheds a class at its load level and steps down only after holdSeconds', async () => {
    inbound.apply(
      compiled({
        loadLevels: { thresholds: [0.5, 0.8, 0.9], holdSeconds: 1 },
        classes: [
          { name: 'bg', match: [{ pathPrefix: '/bg' }], concurrency: { limit: 10 }, shedAtLevel: 1, affectsLoadLevel: false },
          { name: 'work', match: [{ pathPrefix: '/work' }], concurrency: { limit: 10 } },
        ],
        defaultClass: { concurrency: { limit: 10 }, affectsLoadLevel: false },
      }),
    );
    up.hold = (req) => req.url === '/work';
    expect((await send(inbound.port, { path: '/bg' })).status).toBe(200);
    const work = Array.from({ length: 6 }, () => send(inbound.port, { path: '/work' }));
    await waitFor(() => inbound.loadLevel() === 1, 'level 1');
    expect(inbound.state().utilisation).toBeCloseTo(0.6);
    const shed = await send(inbound.port, { path: '/bg' });
    expect(shed.status).toBe(503);
    expect(shed.headers['x-spillway-reason']).toBe('load-level');
    expect(shed.headers['x-spillway-class']).toBe('bg');
    expect(Number(shed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(classState(inbound, 'bg').inflight).toBe(0);
    expect(await metric(registry, 'spillway_load_level')).toBe(1);
    up.release();
    await Promise.all(work);
    const released = Date.now();
    await waitFor(() => inbound.state().utilisation === 0, 'utilisation sampled');
    expect(inbound.loadLevel()).toBe(1); // held: not below for holdSeconds yet
    expect((await send(inbound.port, { path: '/bg' })).status).toBe(503);
    await waitFor(() => inbound.loadLevel() === 0, 'level back to 0');
    expect(Date.now() - released).toBeGreaterThanOrEqual(900);
    expect((await send(inbound.port, { path: '/bg' })).status).toBe(200);
    expect(await metric(registry, 'spillway_requests_total{class="bg",outcome="load-level"}')).toBe(2);
  });

  it('a config change keeps admitted work, applies new limits to new requests at once, and drains removed classes', async () => {
    const withGone = (limit: number) =>
      compiled({
        classes: [
          { name: 'a', match: [{ pathPrefix: '/a' }], concurrency: { limit } },
          { name: 'gone', match: [{ pathPrefix: '/gone' }], concurrency: { limit: 5 } },
        ],
      });
    inbound.apply(withGone(5));
    const a = Array.from({ length: 5 }, () => send(inbound.port, { path: '/a' }));
    const gone = Array.from({ length: 2 }, () => send(inbound.port, { path: '/gone' }));
    await waitFor(() => up.held.length === 7, 'all held');
    inbound.apply(withGone(2));
    expect(classState(inbound, 'a')).toMatchObject({ inflight: 5, limit: 2 });
    expect((await send(inbound.port, { path: '/a' })).status).toBe(503);
    inbound.apply(compiled({ classes: [{ name: 'a', match: [{ pathPrefix: '/a' }], concurrency: { limit: 2 } }] }, 3));
    expect(inbound.state().classes.map((c) => c.name)).toEqual(['a', 'default']);
    expect(inbound.state().configVersion).toBe(3);
    up.hold = () => false;
    const now = await send(inbound.port, { path: '/gone' }); // now in default: proxied
    expect(now.status).toBe(200);
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="success"}')).toBe(1);
    up.release();
    const results = await Promise.all([...a, ...gone]);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(classState(inbound, 'a').inflight).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="gone",outcome="success"}')).toBe(2);
  });

  it('Cluster-scope limits are divided over ready replicas; warm-up scales limits up from 1', async () => {
    inbound.apply(compiled({ classes: [{ name: 'c', match: [{ pathPrefix: '/c' }], concurrency: { limit: 40, scope: 'Cluster' } }] }, 1, 4));
    expect(classState(inbound, 'c').limit).toBe(10);
    // 42 over 4: 10 each, and 11 in the first 2 pods the operator lists; this sidecar is pod-0.
    const remainder = { classes: [{ name: 'c', match: [{ pathPrefix: '/c' }], concurrency: { limit: 42, scope: 'Cluster' } }] };
    inbound.apply({ ...compiled(remainder, 2, 4), extraPods: ['pod-0', 'pod-9'] });
    expect(classState(inbound, 'c').limit).toBe(11);
    inbound.apply({ ...compiled(remainder, 3, 4), extraPods: ['pod-8', 'pod-9'] });
    expect(classState(inbound, 'c').limit).toBe(10);
    // Not listed yet (ready since the operator last published): the base, never more.
    inbound.apply(compiled(remainder, 4, 4));
    expect(classState(inbound, 'c').limit).toBe(10);
    inbound.clear();
    expect(inbound.state().classes.map((c) => c.name)).toEqual(['unconfigured']);
    await inbound.close();
    let t = 0;
    ({ inbound, registry } = await startInbound(up.url, { now: () => t }));
    inbound.apply(compiled({ warmupSeconds: 10, defaultClass: { concurrency: { limit: 100 } } }));
    expect(classState(inbound, 'default').limit).toBe(1);
    t = 5000;
    await waitFor(() => classState(inbound, 'default').limit === 50, 'half way');
    t = 20_000;
    await waitFor(() => classState(inbound, 'default').limit === 100, 'warm');
  });
});

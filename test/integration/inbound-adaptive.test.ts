/** The opt-in admission features through the real proxy: Shadow, fairness by header, borrowing. */
import type { Registry } from 'prom-client';
import type { Inbound } from '../../sidecar/inbound.js';
import { classState, closeProxyUnderTest, compiled, metric, send, startProxyUnderTest, Upstream, waitFor, type Reply } from './inbound-support.js';

describe('inbound adaptive admission', () => {
  let up: Upstream;
  let inbound: Inbound;
  let registry: Registry;

  beforeEach(async () => ({ up, inbound, registry } = await startProxyUnderTest()));
  afterEach(() => closeProxyUnderTest({ up, inbound, registry }, []));

  it('Shadow: nothing refused, the would-be refusals counted per class and outcome', async () => {
    inbound.apply(compiled({ mode: 'Shadow', classes: [{ name: 'two', match: [{ pathPrefix: '/two' }], concurrency: { limit: 2 } }] }));
    const all = Array.from({ length: 10 }, (_, i) => send(inbound.port, { path: `/two/${i}` }));
    await waitFor(() => up.held.length === 10, 'all ten at the upstream');
    expect(classState(inbound, 'two')).toMatchObject({ inflight: 2, mode: 'Shadow' });
    up.release();
    expect((await Promise.all(all)).every((r) => r.status === 200)).toBe(true);
    expect(await metric(registry, 'spillway_shadow_requests_total{class="two",outcome="capacity"}')).toBe(8);
    expect(await metric(registry, 'spillway_shadow_requests_total{class="two",outcome="queue-timeout"}')).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="two",outcome="capacity"}')).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="two",outcome="success"}')).toBe(10);
    expect(await metric(registry, 'spillway_class_shadow{class="two"}')).toBe(1);
    expect(classState(inbound, 'two').inflight).toBe(0);
    // /state says the same as the metric (the data plane's status).
    expect(classState(inbound, 'two').wouldBe).toEqual({ capacity: 8, 'load-level': 0, 'queue-timeout': 0, queued: 0 });
    expect(classState(inbound, 'default').wouldBe).toEqual({ capacity: 0, 'load-level': 0, 'queue-timeout': 0, queued: 0 });
  });

  it('fairness by header: the quiet tenant takes the noisy one\'s newest queue place and the next slot', async () => {
    inbound.apply(
      compiled({ defaultClass: { concurrency: { limit: 2 }, queue: { size: 4, timeoutMs: 20_000 }, fairness: { header: 'X-Tenant' } } }),
    );
    const replies: Reply[] = [];
    const noisy = Array.from({ length: 6 }, (_, i) => send(inbound.port, { path: `/noisy/${i}`, headers: { 'x-tenant': 'noisy' } }).then((r) => (replies.push(r), r)));
    await waitFor(() => up.held.length === 2 && classState(inbound, 'default').queued === 4, 'two held, four queued');
    const quiet = send(inbound.port, { path: '/quiet', headers: { 'x-tenant': 'quiet' } });
    await waitFor(() => replies.length === 1, 'one noisy evicted');
    expect(replies[0].headers['x-spillway-reason']).toBe('capacity');
    expect(classState(inbound, 'default').flows).toBe(2);
    up.release(1);
    await waitFor(() => up.arrivals.length === 3, 'next admitted');
    expect(up.arrivals[2]).toBe('/quiet');
    await waitFor(() => {
      up.release();
      return up.arrivals.length === 6 && up.held.length === 0;
    }, 'the rest admitted and answered');
    expect((await quiet).status).toBe(200);
    await Promise.all(noisy);
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="capacity"}')).toBe(1);
  });

  it('borrowing: a low class uses idle slots, and the lender gets them back as they finish', async () => {
    inbound.apply(
      compiled({
        classes: [
          { name: 'low', priority: 10, match: [{ pathPrefix: '/low' }], concurrency: { limit: 1, borrow: { max: 2 } } },
          { name: 'high', priority: 90, match: [{ pathPrefix: '/high' }], concurrency: { limit: 2 } },
        ],
        defaultClass: { concurrency: { limit: 1 } },
      }),
    );
    const low = Array.from({ length: 4 }, (_, i) => send(inbound.port, { path: `/low/${i}` }));
    await waitFor(() => up.held.length === 3, 'low holds three');
    expect((await low[3]).headers['x-spillway-reason']).toBe('capacity');
    expect(await metric(registry, 'spillway_borrowed{class="low"}')).toBe(2);
    const high = [send(inbound.port, { path: '/high/0' }), send(inbound.port, { path: '/high/1' })];
    await waitFor(() => up.held.length === 4 && classState(inbound, 'high').queued === 1, 'high: one slot free, one owed');
    up.release(1);
    await waitFor(() => classState(inbound, 'high').inflight === 2, 'high got its slot back');
    up.release();
    await waitFor(() => up.held.length === 0 && up.active === 0, 'all answered');
    up.release();
    expect((await Promise.all(high)).map((r) => r.status)).toEqual([200, 200]);
    await Promise.all(low.slice(0, 3));
  });
});

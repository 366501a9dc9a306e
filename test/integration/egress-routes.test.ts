/** The egress data path: forwarding, outcome rules, route budget without and with deferral, replay. */
import { request as httpRequest } from 'node:http';
import { Registry } from 'prom-client';
import { VendorSim } from '../../e2e/apps/vendor-sim.js';
import type { DeferredSend, Deferrer } from '../../sidecar/egress/contracts.js';
import { Egress } from '../../sidecar/egress/index.js';
import { configWithRoutes, request } from './egress-support.js';

class FakeDeferrer implements Deferrer {
  stored: DeferredSend[] = [];
  fail = false;
  drainer: ((s: DeferredSend) => Promise<'delivered' | 'retry' | 'failed'>) | null = null;
  canDrain: (() => boolean) | null = null;
  async defer(send: DeferredSend): Promise<void> {
    if (this.fail) throw new Error('kafka down');
    this.stored.push(send);
  }
  startDrainer(replay: (s: DeferredSend) => Promise<'delivered' | 'retry' | 'failed'>, canDrain: () => boolean): void {
    this.drainer = replay;
    this.canDrain = canDrain;
  }
  async close(): Promise<void> {}
}

describe('egress routes', () => {
  let a: VendorSim;
  let b: VendorSim;
  let egress: Egress;
  let registry: Registry;
  let level = 0;
  const deferrer = new FakeDeferrer();

  beforeAll(async () => {
    a = await VendorSim.start({ name: 'a' });
    b = await VendorSim.start({ name: 'b' });
    registry = new Registry();
    egress = await Egress.start({ port: 0, registry, podName: 'relay-0', deferrer, loadLevel: () => level });
  });

  afterAll(async () => {
    await egress.close();
    await a.close();
    await b.close();
  });

  beforeEach(() => {
    // A fresh route each time: a route that keeps its shape keeps its failover state.
    egress.clear();
    a.reset();
    b.reset();
    a.set({ successRate: 1, latencyMs: 0, hang: false, stallBody: false, failStatus: 500 });
    b.set({ successRate: 1, latencyMs: 0, hang: false, failStatus: 500 });
    level = 0;
    deferrer.fail = false;
    deferrer.stored = [];
  });

  function routes(extra: Record<string, unknown> = {}) {
    return [
      {
        name: 'push',
        vendors: [
          { name: 'a', url: a.url + '/base', timeoutMs: 1000 },
          { name: 'b', url: b.url, timeoutMs: 1000 },
        ],
        failover: { minSuccessRate: 0.9, windowSeconds: 5, minRequests: 20, cooldownSeconds: 60 },
        ...extra,
      },
    ];
  }

  it('forwards to the active vendor: url + path, query, method, headers and body; streams the answer back', async () => {
    egress.apply(configWithRoutes(routes()));
    const r = await request(egress.port, '/push/v1/send?to=42', { headers: { 'content-type': 'text/plain', 'x-app': 'relay' }, body: 'hello' });
    expect(r.status).toBe(200);
    expect(r.headers['x-vendor']).toBe('a');
    expect(JSON.parse(r.body)).toMatchObject({ ok: true, vendor: 'a' });
    expect(a.requests()[0]).toMatchObject({ method: 'POST', url: '/base/v1/send?to=42', bodyBytes: 5 });
    const root = await request(egress.port, '/push?x=1', { method: 'GET' });
    expect(root.status).toBe(200);
    expect(a.requests()[1]).toMatchObject({ method: 'GET', url: '/base/?x=1' });
  });

  it('sends a body kept for a retry with its Content-Length, even when the caller sent it chunked', async () => {
    egress.apply(configWithRoutes(routes({ dedup: {} })));
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { port: egress.port, host: '127.0.0.1', method: 'POST', path: '/push/v1/send', headers: { 'idempotency-key': 'chunked-1', 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('hel');
      req.end('lo');
    });
    expect(chunked).toBe(200);
    expect(a.requests()[0]).toMatchObject({ bodyBytes: 5, framing: '5' });
    // A streamed (unkeyed, not retried) chunked body stays chunked.
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ port: egress.port, host: '127.0.0.1', method: 'POST', path: '/push/v1/send', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write('hel');
      req.end('lo');
    });
    expect(streamed).toBe(200);
    expect(a.requests()[1]).toMatchObject({ bodyBytes: 5, framing: 'chunked' });
  });

  it('streams a large unkeyed body; refuses one too large to keep for a retry with 413', async () => {
    egress.apply(configWithRoutes(routes({ dedup: {} })));
    const big = 'x'.repeat(2 * 1024 * 1024);
    const streamed = await request(egress.port, '/push/upload', { body: big });
    expect(streamed.status).toBe(200);
    expect(a.requests()[0].bodyBytes).toBe(big.length);
    const keyed = await request(egress.port, '/push/upload', { headers: { 'idempotency-key': 'big' }, body: big });
    expect(keyed.status).toBe(413);
    expect(keyed.headers['x-spillway-reason']).toBe('body-too-large');
    expect(a.stats().received).toBe(1);
    // The key was released: the same send, small enough now, goes out.
    expect((await request(egress.port, '/push/upload', { headers: { 'idempotency-key': 'big' }, body: 'small' })).status).toBe(200);
  });

  it('the vendor simulator takes its settings over /_sim', async () => {
    const set = await request(a.port, '/_sim', { body: JSON.stringify({ successRate: 0, failStatus: 503 }) });
    expect(JSON.parse(set.body)).toMatchObject({ name: 'a', settings: { successRate: 0, failStatus: 503 } });
    expect((await request(a.port, '/x', { body: '' })).status).toBe(503);
    const stats = JSON.parse((await request(a.port, '/_sim', { method: 'GET' })).body);
    expect(stats).toMatchObject({ received: 1, failed: 1, delivered: 0 });
    await request(a.port, '/_sim/reset', { body: '' });
    expect(a.stats().received).toBe(0);
  });

  it('answers 404 for an unknown route', async () => {
    egress.apply(configWithRoutes(routes()));
    const r = await request(egress.port, '/nope/x', { method: 'GET' });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ error: 'unknown route' });
  });

  it("passes a vendor 4xx through as the caller's fault, not the vendor's", async () => {
    egress.apply(configWithRoutes(routes()));
    a.set({ successRate: 0, failStatus: 400 });
    for (let i = 0; i < 30; i++) expect((await request(egress.port, '/push/send', { body: 'x' })).status).toBe(400);
    expect(b.stats().received).toBe(0);
    expect(egress.state().routes[0]).toMatchObject({ activeVendor: 'a', vendors: [{ name: 'a', ok: 0, fail: 0 }, { name: 'b' }] });
    const metrics = await registry.metrics();
    expect(metrics).toContain('spillway_vendor_requests_total{route="push",vendor="a",outcome="caller"} 30');
  });

  it('counts 4xx against the vendor when the route says so', async () => {
    egress.apply(configWithRoutes(routes({ countClientErrors: true })));
    a.set({ successRate: 0, failStatus: 404 });
    // Unkeyed POST: not retried, so the 404 comes back, but it counts as a vendor failure.
    for (let i = 0; i < 20; i++) expect((await request(egress.port, '/push/send', { body: 'x' })).status).toBe(404);
    expect(egress.state().routes[0].activeVendor).toBe('b');
  });

  it('sheds beyond the route limit without defer: 503 capacity, Retry-After, class and reason', async () => {
    const cfg = configWithRoutes(routes({ concurrency: { limit: 2 } }));
    cfg.routes[0].defer = null;
    egress.apply(cfg);
    a.set({ latencyMs: 400 });
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(egress.port, '/push/send', { body: 'x' })));
    const ok = replies.filter((r) => r.status === 200);
    const shed = replies.filter((r) => r.status === 503);
    expect(ok).toHaveLength(2);
    expect(shed).toHaveLength(4);
    for (const r of shed) {
      expect(r.headers['x-spillway-class']).toBe('push');
      expect(r.headers['x-spillway-reason']).toBe('capacity');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(r.body)).toEqual({ error: 'overloaded', class: 'push', reason: 'capacity' });
      expect(r.ms).toBeLessThan(400); // failed fast, not queued behind the slow vendor
    }
    expect(egress.state().routes[0]).toMatchObject({ inflight: 0, limit: 2 });
  });

  it('sheds at the load level without defer: 503 load-level', async () => {
    egress.apply(configWithRoutes(routes({ shedAtLevel: 2 })));
    level = 1;
    expect((await request(egress.port, '/push/send', { body: 'x' })).status).toBe(200);
    level = 2;
    const r = await request(egress.port, '/push/send', { body: 'x' });
    expect(r.status).toBe(503);
    expect(r.headers['x-spillway-reason']).toBe('load-level');
    expect(a.stats().received).toBe(1);
  });

  it('defers shed sends when the route has defer: 202 once stored, 503 defer-unavailable when not', async () => {
    egress.apply(configWithRoutes(routes({ shedAtLevel: 1, defer: {}, dedup: {} })));
    level = 1;
    const r = await request(egress.port, '/push/v1/send?x=1', { headers: { 'idempotency-key': 'k1', 'content-type': 'text/plain' }, body: 'payload' });
    expect(r.status).toBe(202);
    expect(r.headers['x-spillway-deferred']).toBe('true');
    expect(deferrer.stored).toHaveLength(1);
    expect(deferrer.stored[0]).toMatchObject({ route: 'push', method: 'POST', path: '/v1/send?x=1', key: 'k1', attempts: 0 });
    expect(deferrer.stored[0].body.toString()).toBe('payload');
    expect(deferrer.stored[0].headers['content-type']).toBe('text/plain');
    expect(deferrer.stored[0].headers.host).toBeUndefined();
    expect(a.stats().received).toBe(0);

    deferrer.fail = true;
    const refused = await request(egress.port, '/push/send', { headers: { 'idempotency-key': 'k2' }, body: 'x' });
    expect(refused.status).toBe(503);
    expect(refused.headers['x-spillway-reason']).toBe('defer-unavailable');
    expect(refused.headers['x-spillway-deferred']).toBeUndefined();
  });

  it('gives the drainer replay() and a load-level gate; replay goes through failover and dedup', async () => {
    egress.apply(configWithRoutes(routes({ defer: {}, dedup: {} })));
    expect(deferrer.drainer).not.toBeNull();
    level = 1;
    expect(deferrer.canDrain?.()).toBe(false);
    level = 0;
    expect(deferrer.canDrain?.()).toBe(true);
    const send: DeferredSend = {
      route: 'push',
      method: 'POST',
      path: '/v1/send',
      headers: { 'idempotency-key': 'replay-1', 'content-type': 'text/plain' },
      body: Buffer.from('hi'),
      key: 'replay-1',
      firstSeenMs: Date.now(),
      attempts: 0,
    };
    a.set({ successRate: 0 }); // a fails: replay moves on to b
    expect(await egress.replay(send)).toBe('delivered');
    expect(b.deliveries('replay-1')).toBe(1);
    // Replayed again (a redelivery from Kafka): suppressed, still delivered once.
    expect(await egress.replay(send)).toBe('delivered');
    expect(a.deliveries('replay-1') + b.deliveries('replay-1')).toBe(1);
    b.set({ successRate: 0 });
    expect(await egress.replay({ ...send, key: 'replay-2', headers: { 'idempotency-key': 'replay-2' } })).toBe('retry');
    a.set({ successRate: 0, failStatus: 422 });
    expect(await egress.replay({ ...send, key: 'replay-3', headers: { 'idempotency-key': 'replay-3' } })).toBe('failed');
    expect(await egress.replay({ ...send, route: 'gone' })).toBe('failed');
  });

  it('exposes the vendor metrics', async () => {
    egress.apply(configWithRoutes(routes()));
    for (let i = 0; i < 25; i++) await request(egress.port, '/push/send', { body: 'x' });
    const m = await registry.metrics();
    expect(m).toMatch(/spillway_vendor_active\{route="push",vendor="a"\} 1/);
    expect(m).toMatch(/spillway_vendor_active\{route="push",vendor="b"\} 0/);
    expect(m).toMatch(/spillway_vendor_success_ratio\{route="push",vendor="a"\} 1/);
    expect(m).toContain('spillway_vendor_failovers_total');
    expect(m).toContain('spillway_dedup_suppressed_total');
    expect(m).toContain('spillway_egress_inflight{route="push"} 0');
  });

  it('exports every outcome of every vendor from the start, at 0, so rate() counts the first failure', async () => {
    // A route name no other test used: counters live as long as the process.
    egress.apply(configWithRoutes([{ name: 'fresh', vendors: [{ name: 'a', url: a.url, timeoutMs: 1000 }, { name: 'b', url: b.url, timeoutMs: 1000 }] }]));
    for (let i = 0; i < 3; i++) await request(egress.port, '/fresh/send', { body: 'x' });
    const m = await registry.metrics();
    expect(m).toContain('spillway_vendor_requests_total{route="fresh",vendor="a",outcome="success"} 3');
    for (const outcome of ['failure', 'caller', 'timeout', 'refused', 'error']) {
      expect(m).toContain(`spillway_vendor_requests_total{route="fresh",vendor="a",outcome="${outcome}"} 0`);
    }
    expect(m).toContain('spillway_vendor_requests_total{route="fresh",vendor="b",outcome="success"} 0');
  });

  it('clear() withdraws every route', async () => {
    egress.apply(configWithRoutes(routes()));
    egress.clear();
    expect((await request(egress.port, '/push/send', { body: 'x' })).status).toBe(404);
    expect(egress.state().routes).toEqual([]);
  });
});

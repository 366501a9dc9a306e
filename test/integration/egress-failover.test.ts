/**
 * Vendor failover with real vendor simulators: brownout (A from 99% to 60% success), hang (A
 * stops answering), and failing back once A has recovered. Loads are open-loop and bounded.
 */
import { Registry } from 'prom-client';
import { VendorSim } from '../../e2e/apps/vendor-sim.js';
import { Egress } from '../../sidecar/egress/index.js';
import { freePort } from '../support/ports.js';
import { configWithRoutes, eventually, openLoop, request, sleep, type Reply } from './egress-support.js';

describe('egress failover', () => {
  let a: VendorSim;
  let b: VendorSim;
  let egress: Egress;
  let registry: Registry;

  beforeEach(async () => {
    a = await VendorSim.start({ name: 'a' });
    b = await VendorSim.start({ name: 'b' });
    registry = new Registry();
    egress = await Egress.start({ port: 0, registry, podName: 'relay-0', loadLevel: () => 0 });
  });

  afterEach(async () => {
    await egress.close();
    await a.close();
    await b.close();
  });

  function route(o: { timeoutMs?: number; windowSeconds?: number; cooldownSeconds?: number; minRequests?: number } = {}) {
    return configWithRoutes([
      {
        name: 'push',
        vendors: [
          { name: 'a', url: a.url, timeoutMs: o.timeoutMs ?? 2000 },
          { name: 'b', url: b.url, timeoutMs: o.timeoutMs ?? 2000 },
        ],
        failover: { minSuccessRate: 0.9, windowSeconds: o.windowSeconds ?? 5, minRequests: o.minRequests ?? 20, cooldownSeconds: o.cooldownSeconds ?? 60 },
        dedup: {},
      },
    ]);
  }

  const keyed = (prefix: string) => (i: number) =>
    request(egress.port, '/push/v1/send', { headers: { 'idempotency-key': `${prefix}-${i}` }, body: `message ${i}` });

  it('vendor-brownout: A drops from 99% to 60%; within 5 s at least 95% of sends are on B, none delivered twice', async () => {
    egress.apply(route());
    a.set({ successRate: 0.99 });
    // 40/s for 2 s of normal traffic, then the brownout and 7 s more.
    await openLoop(80, 25, keyed('before'));
    expect(egress.state().routes[0].activeVendor).toBe('a');
    a.set({ successRate: 0.6 });
    const brownoutAt = Date.now();
    const replies = await openLoop(280, 25, keyed('during'));
    const errors = replies.filter((r): r is Error => r instanceof Error);
    expect(errors).toEqual([]);
    // Keyed sends that failed on A were retried on B: the callers saw success.
    expect((replies as Reply[]).filter((r) => r.status !== 200).length).toBeLessThanOrEqual(2);

    const late = (s: VendorSim) => s.requests().filter((r) => r.at >= brownoutAt + 5000 && r.key.startsWith('during')).length;
    const onA = late(a);
    const onB = late(b);
    expect(onA + onB).toBeGreaterThan(50);
    expect(onB / (onA + onB)).toBeGreaterThanOrEqual(0.95);
    expect(a.stats().duplicateKeys).toEqual([]);
    expect(b.stats().duplicateKeys).toEqual([]);
    for (const [k] of a.deliveredKeys()) expect(b.deliveries(k)).toBe(0);
    expect(await registry.metrics()).toContain('spillway_vendor_failovers_total{route="push",from="a",to="b"} 1');
  }, 30_000);

  it('vendor-hang: A stops answering; its timeout cuts every request, the route fails over, nothing is held', async () => {
    egress.apply(route({ timeoutMs: 300 }));
    a.set({ hang: true });
    const replies = await openLoop(40, 50, keyed('hang'));
    const ok = replies.filter((r): r is Reply => !(r instanceof Error) && r.status === 200);
    expect(ok).toHaveLength(40);
    // Budget: A's 300 ms timeout, then the retry on B; generous margin for a busy machine.
    for (const r of ok) expect(r.ms).toBeLessThan(300 * 2 + 1500);
    // 3 timeouts in a row fail the route over: only the sends made before the first timeouts
    // expired (about 300 ms / 50 ms + 3) went to A at all, not the 40.
    expect(a.stats().hung).toBeLessThanOrEqual(15);
    expect(egress.state().routes[0].activeVendor).toBe('b');
    // The egress closed the requests it gave up on: none still open at A.
    expect(await eventually(async () => (await a.openConnections()) === 0, 2000)).toBe(true);
    expect(b.stats().duplicateKeys).toEqual([]);

    // An unkeyed POST is not retried: the caller gets 504 after A's timeout, not a hang.
    const fresh = configWithRoutes([{ name: 'solo', vendors: [{ name: 'a', url: a.url, timeoutMs: 300 }] }]);
    egress.apply(fresh);
    const r = await request(egress.port, '/solo/send', { body: 'x' });
    expect(r.status).toBe(504);
    expect(r.headers['x-spillway-reason']).toBe('vendor-timeout');
    expect(r.ms).toBeLessThan(300 + 1500);
  }, 30_000);

  it('a vendor that stalls mid-answer is cut at its timeout too', async () => {
    egress.apply(route({ timeoutMs: 300 }));
    a.set({ stallBody: true });
    const t0 = Date.now();
    await expect(request(egress.port, '/push/v1/send', { body: 'x' })).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(300 + 1500);
    expect(await eventually(async () => (await a.openConnections()) === 0, 2000)).toBe(true);
  });

  it("the caller's budget cuts an attempt short without counting a timeout against the vendor", async () => {
    egress.apply(route({ timeoutMs: 2000 }));
    a.set({ hang: true });
    const r = await request(egress.port, '/push/v1/send', { headers: { 'x-spillway-timeout-ms': '200' }, body: 'x' });
    expect(r.status).toBe(504);
    expect(r.headers['x-spillway-reason']).toBe('vendor-timeout');
    expect(r.ms).toBeLessThan(200 + 1500);
    const metrics = await registry.metrics();
    expect(metrics).toContain('spillway_vendor_requests_total{route="push",vendor="a",outcome="timeout"} 1');
    // Cut by the caller, not the vendor's fault: A stays active and its window holds no failure.
    const state = egress.state().routes[0];
    expect(state.activeVendor).toBe('a');
    expect(state.vendors[0].fail).toBe(0);
    expect(state.inflight).toBe(0);
  });

  // The send is not cancelled with its caller: it ends at the vendor's answer or timeout, so a
  // keyed send's claim is settled with what the vendor did and a retry by the caller is answered
  // from it.
  it('a caller that leaves mid-send: the send still ends by the vendor timeout and gives its slot back', async () => {
    egress.apply(route({ timeoutMs: 500 }));
    a.set({ hang: true });
    const ac = new AbortController();
    const pending = fetch(`http://127.0.0.1:${egress.port}/push/v1/send`, { method: 'POST', body: 'x', signal: ac.signal });
    expect(await eventually(async () => egress.state().routes[0].inflight === 1, 2000)).toBe(true);
    ac.abort();
    await expect(pending).rejects.toThrow();
    expect(await eventually(async () => egress.state().routes[0].inflight === 0, 500 + 2000)).toBe(true);
    expect(await registry.metrics()).toContain('spillway_egress_inflight{route="push"} 0');
    expect(await eventually(async () => (await a.openConnections()) === 0, 2000)).toBe(true);
  });

  it('connection refused at A: the send is retried on B and the route fails over at once', async () => {
    const closedPort = await freePort();
    egress.apply(
      configWithRoutes([
        {
          name: 'push',
          vendors: [
            { name: 'a', url: `http://127.0.0.1:${closedPort}`, timeoutMs: 1000 },
            { name: 'b', url: b.url, timeoutMs: 1000 },
          ],
          dedup: {},
        },
      ]),
    );
    const r = await keyed('refused')(0);
    expect(r.status).toBe(200);
    expect(r.headers['x-vendor']).toBe('b');
    expect(egress.state().routes[0].activeVendor).toBe('b');
    // An unkeyed POST is not retried, but it no longer goes to A at all.
    const plain = await request(egress.port, '/push/v1/send', { body: 'x' });
    expect(plain.headers['x-vendor']).toBe('b');
    expect(await registry.metrics()).toContain('spillway_vendor_requests_total{route="push",vendor="a",outcome="refused"} 1');
  });

  it('fails back to A after its recovery, only once probes succeed', async () => {
    egress.apply(route({ cooldownSeconds: 1, minRequests: 10 }));
    a.set({ successRate: 0 });
    await openLoop(30, 10, keyed('down'));
    expect(egress.state().routes[0].activeVendor).toBe('b');
    // A still failing: after the cooldown the probes fail, the route stays on B.
    await sleep(1200);
    await openLoop(60, 20, keyed('still-down'));
    expect(egress.state().routes[0].activeVendor).toBe('b');
    const probesWhileDown = a.requests().filter((r) => r.key.startsWith('still-down')).length;
    expect(probesWhileDown).toBeGreaterThanOrEqual(1);
    expect(probesWhileDown).toBeLessThanOrEqual(10);
    // A recovers: within a few cooldowns the probes succeed and the route moves back.
    a.set({ successRate: 1 });
    let i = 0;
    const back = await eventually(async () => {
      await keyed('recovering')(i++);
      return egress.state().routes[0].activeVendor === 'a';
    }, 10_000, 20);
    expect(back).toBe(true);
    const m = await registry.metrics();
    expect(m).toContain('spillway_vendor_failovers_total{route="push",from="a",to="b"} 1');
    expect(m).toContain('spillway_vendor_failovers_total{route="push",from="b",to="a"} 1');
    expect(m).toMatch(/spillway_vendor_active\{route="push",vendor="a"\} 1/);
  }, 30_000);
});

/**
 * Shadow's would-be copy (sidecar/admission/shadow.ts) and its latency model, driven with
 * synthetic time: what it counts, how long a would-be slot is held, the would-be queue, and that
 * on an upstream which slows with load its would-be refusals predict Enforce's real ones.
 */
import { LatencyModel, MIN_WEIGHT } from '../../sidecar/admission/latency-model.js';
import { O_SUCCESS, OUTCOMES, S_CAPACITY, S_LOAD_LEVEL, S_QUEUE_TIMEOUT, S_QUEUED } from '../../sidecar/admission/outcomes.js';
import { admit, GRANTED, QUEUE } from '../../sidecar/admission/permit.js';
import { EXCESS, RAN, WOULD_RUN, type ShadowState } from '../../sidecar/admission/shadow.js';
import { ClassRuntime, type ClassSettings } from '../../sidecar/class-runtime.js';
import { DurationCounts } from '../../sidecar/inbound-metrics.js';
import { BASE_CLASS, Holder } from '../support/permit-holder.js';

const base = BASE_CLASS;

let t = 0;
const runtimes: ClassRuntime[] = [];
afterEach(() => runtimes.splice(0).forEach((r) => r.dispose()));
beforeEach(() => {
  t = 0;
});

function make(limit: number, over: Partial<ClassSettings> = {}): ClassRuntime {
  const rt = new ClassRuntime({ ...base, ...over }, limit, () => t, new Float64Array(OUTCOMES.length), new DurationCounts());
  runtimes.push(rt);
  return rt;
}

const state = (rt: ClassRuntime): ShadowState => rt.shadowState as ShadowState;

/** One request as the inbound makes it: the would-be copy decides, the request runs (Shadow); or admit() (Enforce). */
function arrive(rt: ClassRuntime, level = 0): Holder | null {
  if (rt.shadow) {
    state(rt).admit(level, t);
    const h = new Holder(rt);
    h.pass();
    return h;
  }
  const d = admit(rt, level);
  if (d !== GRANTED && d !== QUEUE) return null;
  const h = new Holder(rt);
  if (d === GRANTED) h.admitted();
  else rt.limiter.enqueue(h);
  return h;
}

const counts = (rt: ClassRuntime) => ({
  capacity: rt.shadowCounts[S_CAPACITY],
  loadLevel: rt.shadowCounts[S_LOAD_LEVEL],
  queueTimeout: rt.shadowCounts[S_QUEUE_TIMEOUT],
  queued: rt.shadowCounts[S_QUEUED],
});

describe('LatencyModel', () => {
  it('knows nothing before MIN_WEIGHT samples, then fits latency = a + b × concurrency', () => {
    const m = new LatencyModel();
    for (let i = 0; i < MIN_WEIGHT - 1; i++) m.add(1 + (i % 5), 100 + 10 * (1 + (i % 5)));
    expect(m.predict(3)).toBeNaN();
    for (let i = 0; i < 200; i++) m.add(1 + (i % 5), 100 + 10 * (1 + (i % 5)));
    expect(m.slope).toBeCloseTo(10, 6);
    expect(m.predict(20)).toBeCloseTo(300, 6);
  });

  it('gives the mean when concurrency hardly varies, and never a negative slope', () => {
    const flat = new LatencyModel();
    for (let i = 0; i < 100; i++) flat.add(4, 100 + (i % 2) * 20);
    expect(flat.slope).toBe(0);
    expect(flat.predict(40)).toBeCloseTo(110, 0);
    const falling = new LatencyModel();
    for (let i = 0; i < 100; i++) falling.add(1 + (i % 6), 200 - 10 * (i % 6));
    expect(falling.slope).toBe(0);
  });
});

describe('Shadow would-be copy', () => {
  it('refuses and queues nothing, counts each would-be outcome, and while clean holds a slot as long as the request runs', () => {
    const rt = make(1, { queue: { size: 1, timeoutMs: 100 }, shedAtLevel: 2, shadow: true });
    const a = arrive(rt) as Holder;
    const b = arrive(rt) as Holder; // would wait
    const c = arrive(rt) as Holder; // queue full: capacity
    const d = arrive(rt, 2) as Holder; // load level
    expect([a, b, c, d].every((h) => h.active)).toBe(true);
    expect([a.slot, b.slot, c.slot, d.slot]).toEqual([WOULD_RUN, EXCESS, EXCESS, EXCESS]);
    expect(counts(rt)).toEqual({ capacity: 1, loadLevel: 1, queueTimeout: 0, queued: 1 });
    expect(rt.outcomes.reduce((x, y) => x + y, 0)).toBe(0);
    expect(rt.limiter.inflight).toBe(1);
    expect(state(rt).queued).toBe(1);
    // a was admitted clean: its would-be slot is its own, given back when it ends; the would-be waiter takes it.
    t = 50;
    a.end(O_SUCCESS);
    expect(a.slot).toBe(RAN);
    expect(state(rt).queued).toBe(0);
    expect(rt.limiter.inflight).toBe(1);
    for (const h of [b, c, d]) h.end(O_SUCCESS);
    expect(rt.outcomes[O_SUCCESS]).toBe(4);
    expect(state(rt).running).toBe(0);
    expect(state(rt).excess).toBe(0);
  });

  it('counts a would-be waiter that no slot reaches within queue.timeoutMs as queue-timeout', () => {
    const rt = make(1, { queue: { size: 5, timeoutMs: 100 }, shadow: true });
    arrive(rt);
    arrive(rt);
    arrive(rt);
    t = 99;
    state(rt).advance(t);
    expect(counts(rt).queueTimeout).toBe(0);
    t = 100;
    state(rt).advance(t);
    expect(counts(rt)).toMatchObject({ queued: 2, queueTimeout: 2, capacity: 0 });
    expect(state(rt).queued).toBe(0);
  });

  it('under excess load holds a would-be slot for the latency predicted at the would-be concurrency, not the slowed real one', () => {
    const rt = make(3, { queue: { size: 0, timeoutMs: 1 }, shadow: true });
    // Clean history: 1 to 3 at a time, 100 ms + 10 ms per concurrent request.
    for (let i = 0; i < 60; i++) {
      const conc = 1 + (i % 3);
      const hs = Array.from({ length: conc }, () => arrive(rt) as Holder);
      t += 100 + 10 * conc;
      for (const h of hs) h.end(O_SUCCESS);
      t += 10;
    }
    expect(state(rt).model.predict(3)).toBeCloseTo(130, 2);
    // Three would run (admitted clean: held until they end), a fourth would be refused and runs.
    const clean = [arrive(rt), arrive(rt), arrive(rt)] as Holder[];
    const excess = arrive(rt) as Holder;
    expect(excess.slot).toBe(EXCESS);
    expect(counts(rt).capacity).toBe(1);
    t += 500;
    state(rt).advance(t);
    expect(rt.limiter.inflight).toBe(3);
    clean[0].end(O_SUCCESS);
    // Admitted while excess runs: held for the prediction at 3 concurrent (about 130 ms; the
    // 500 ms of clean[0], which started clean, moved it a little), however long it really runs.
    const next = arrive(rt) as Holder;
    expect(next.slot).toBe(WOULD_RUN);
    const hold = state(rt).holdMs(3);
    expect(hold).toBeGreaterThan(125);
    expect(hold).toBeLessThan(150);
    const t0 = t;
    t = t0 + hold - 0.5;
    state(rt).advance(t);
    expect(rt.limiter.inflight).toBe(3);
    t = t0 + hold;
    state(rt).advance(t);
    expect(rt.limiter.inflight).toBe(2);
    expect(next.slot).toBe(RAN);
    // Its real end gives nothing back twice.
    t += 800;
    for (const h of [next, excess, clean[1], clean[2]]) h.end(O_SUCCESS);
    expect(rt.limiter.inflight).toBe(0);
    expect(state(rt).virtual).toBe(0);
  });

  it('going back to Enforce drops would-be waiters; requests still running keep their would-be slot until they end', () => {
    const rt = make(1, { queue: { size: 2, timeoutMs: 1000 }, shadow: true });
    const a = arrive(rt) as Holder;
    const b = arrive(rt) as Holder;
    rt.update({ ...base, queue: { size: 2, timeoutMs: 1000 } }, 1, 1);
    expect(state(rt).queued).toBe(0);
    expect(arrive(rt)).not.toBeNull(); // queued for real behind a's slot
    expect(rt.limiter.queued).toBe(1);
    b.end(O_SUCCESS);
    expect(rt.limiter.inflight).toBe(1);
    a.end(O_SUCCESS);
    expect(rt.limiter.queued).toBe(0);
    expect(rt.limiter.inflight).toBe(1); // the real waiter took the slot
  });
});

/**
 * An upstream whose latency grows with the requests it carries (base × (1 + k × concurrency)),
 * like the scenario app's dependency, and a storm of arrivals: the same arrivals replayed in
 * Shadow and in Enforce.
 */
function replay(shadow: boolean, opts: { limit: number; queue: number; queueMs: number; timeoutMs: number }): { refused: number; wouldBe: number } {
  t = 0;
  const rt = make(opts.limit, { ...(shadow ? { shadow: true as const } : {}), queue: { size: opts.queue, timeoutMs: opts.queueMs }, timeoutMs: opts.timeoutMs });
  const running: { h: Holder; end: number }[] = [];
  /** Enforce: requests in the real queue, started at the upstream once the limiter admits them. */
  let waiting: Holder[] = [];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  let nextArrival = 0;
  const rateAt = (ms: number) => (ms < 15_000 ? 10 : 150);
  const startRunning = (h: Holder) => {
    const ms = 200 * (1 + (2 * (running.length + 1)) / 50);
    running.push({ h, end: t + Math.min(ms, opts.timeoutMs) });
  };
  for (t = 0; t < 27_000; t += 1) {
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i];
      if (r.end > t) continue;
      running.splice(i, 1);
      if (t - r.h.admittedAt >= opts.timeoutMs) r.h.upstreamTimedOut();
      else r.h.end(O_SUCCESS);
    }
    rt.limiter.expireDue(t);
    for (const h of waiting) if (h.active) startRunning(h);
    waiting = waiting.filter((h) => !h.active && h.state === 0);
    if (t % 100 === 0 && shadow) state(rt).advance(t);
    while (nextArrival <= t) {
      const h = arrive(rt);
      if (h !== null && h.active) startRunning(h);
      else if (h !== null) waiting.push(h);
      nextArrival += -Math.log(1 - random()) * (1000 / rateAt(nextArrival));
    }
  }
  const refused = rt.outcomes[OUTCOMES.indexOf('capacity')] + rt.outcomes[OUTCOMES.indexOf('queue-timeout')];
  const wouldBe = rt.shadowCounts[S_CAPACITY] + rt.shadowCounts[S_QUEUE_TIMEOUT];
  for (const r of running) r.h.end(O_SUCCESS);
  return { refused, wouldBe };
}

describe('Shadow predicts Enforce on an upstream that slows with load', () => {
  it.each([
    { name: 'no queue (the earthquake class)', limit: 20, queue: 0, queueMs: 1, timeoutMs: 2000 },
    { name: 'a queue of 20 × 250 ms', limit: 20, queue: 20, queueMs: 250, timeoutMs: 2000 },
  ])('$name: would-be refusals within 10 % of the real ones', (opts) => {
    const enforce = replay(false, opts);
    const shadow = replay(true, opts);
    expect(enforce.refused).toBeGreaterThan(500);
    expect(Math.abs(shadow.wouldBe - enforce.refused) / enforce.refused).toBeLessThanOrEqual(0.1);
  });
});

/**
 * The opt-in admission features on the core: borrowing between classes, fairness between flows
 * inside a class, and the adaptive limit wired to the class's measured latency.
 */
import { BorrowPool } from '../../sidecar/admission/borrow-pool.js';
import { MAX_FLOWS } from '../../sidecar/admission/fair-flows.js';
import { O_CAPACITY, O_QUEUE_TIMEOUT, O_SUCCESS, OUTCOMES } from '../../sidecar/admission/outcomes.js';
import { admit, GRANTED, QUEUE, type Decision } from '../../sidecar/admission/permit.js';
import { ClassRuntime, type ClassSettings } from '../../sidecar/class-runtime.js';
import { DurationCounts } from '../../sidecar/inbound-metrics.js';
import { BASE_CLASS, Holder } from '../support/permit-holder.js';

const base = BASE_CLASS;

let t = 1000;
const runtimes: ClassRuntime[] = [];
afterAll(() => runtimes.forEach((r) => r.dispose()));
beforeEach(() => {
  t = 1000;
});

function make(limit: number, over: Partial<ClassSettings> = {}): ClassRuntime {
  const rt = new ClassRuntime({ ...base, ...over }, limit, () => t, new Float64Array(OUTCOMES.length), new DurationCounts());
  runtimes.push(rt);
  return rt;
}

/** One request as the inbound makes it: flow key, admit, then the holder per the decision. */
function arrive(rt: ClassRuntime, key = '', level = 0): { d: Decision; h: Holder | null } {
  if (rt.limiter.fair !== null) rt.limiter.fair.key = key;
  const d = admit(rt, level);
  if (d === GRANTED) {
    const h = new Holder(rt);
    h.admitted();
    return { d, h };
  }
  if (d === QUEUE) {
    const h = new Holder(rt);
    rt.limiter.enqueue(h);
    return { d, h };
  }
  return { d, h: null };
}

function pool(...classes: ClassRuntime[]): void {
  new BorrowPool(classes.map((c) => ({ limiter: c.limiter, priority: c.priority }))).attach();
}

describe('borrowing', () => {
  it('a class at its limit borrows idle slots up to borrow.max; a class without borrow does not', () => {
    const low = make(2, { name: 'low', priority: 10, borrowMax: 3 });
    const high = make(4, { name: 'high', priority: 90 });
    pool(low, high);
    const got = Array.from({ length: 7 }, () => arrive(low).d);
    expect(got).toEqual([GRANTED, GRANTED, GRANTED, GRANTED, GRANTED, O_CAPACITY, O_CAPACITY]);
    expect(low.limiter.borrowed).toBe(3);
    // high is at 0 of 4 but 3 of its slots are lent: it gets the one left, then waits for the rest.
    const h = Array.from({ length: 4 }, () => arrive(high));
    expect(h.map((x) => x.d)).toEqual([GRANTED, QUEUE, QUEUE, QUEUE]);
    expect(arrive(high).d).toBe(O_CAPACITY);
  });

  it('lenders get their slots back first as borrowed requests finish (no preemption), then borrowers by priority', () => {
    const low = make(1, { name: 'low', priority: 10, borrowMax: 4, queue: { size: 5, timeoutMs: 1000 } });
    const mid = make(1, { name: 'mid', priority: 50, borrowMax: 4, queue: { size: 5, timeoutMs: 1000 } });
    const high = make(2, { name: 'high', priority: 90 });
    pool(low, mid, high);
    const borrowed = [arrive(low), arrive(low), arrive(low), arrive(mid)];
    expect(borrowed.map((x) => x.d)).toEqual([GRANTED, GRANTED, GRANTED, GRANTED]);
    const lowWait = arrive(low);
    const midWait = arrive(mid);
    const highWaits = [arrive(high), arrive(high)];
    expect([lowWait.d, midWait.d, ...highWaits.map((x) => x.d)]).toEqual([QUEUE, QUEUE, QUEUE, QUEUE]);
    // Borrowed requests end one by one: high's two owed slots come back first, then mid before low.
    (borrowed[0].h as Holder).end(O_SUCCESS);
    expect(highWaits.map((x) => (x.h as Holder).active)).toEqual([true, false]);
    (borrowed[1].h as Holder).end(O_SUCCESS);
    expect((highWaits[1].h as Holder).active).toBe(true);
    (borrowed[2].h as Holder).end(O_SUCCESS);
    expect((midWait.h as Holder).active).toBe(false);
    expect((lowWait.h as Holder).active).toBe(true); // low was back under its own limit: owed before borrowed
    expect(low.limiter.inflight + mid.limiter.inflight + high.limiter.inflight).toBe(4);
  });

  it('never exceeds the pod capacity; a lender owed slots may wait even with no queue, bounded by what it is owed', () => {
    const low = make(1, { name: 'low', priority: 10, borrowMax: 10 });
    const high = make(3, { name: 'high', priority: 90 });
    pool(low, high);
    for (let i = 0; i < 4; i++) expect(arrive(low).d).toBe(GRANTED);
    expect(arrive(low).d).toBe(O_CAPACITY);
    expect([arrive(high).d, arrive(high).d, arrive(high).d, arrive(high).d]).toEqual([QUEUE, QUEUE, QUEUE, O_CAPACITY]);
    t += 1000;
    high.limiter.expireDue(t);
    expect(high.outcomes[O_QUEUE_TIMEOUT]).toBe(3);
  });

  it('a shrinking limit lowers the pool capacity; a growing one admits waiters', () => {
    const a = make(1, { name: 'a', borrowMax: 1, queue: { size: 2, timeoutMs: 1000 } });
    const b = make(1, { name: 'b' });
    pool(a, b);
    arrive(a);
    arrive(a);
    const w = arrive(a);
    expect(w.d).toBe(QUEUE);
    a.limiter.setLimit(2);
    expect((w.h as Holder).active).toBe(true);
    expect(a.limiter.inflight).toBe(3);
  });
});

describe('fairness', () => {
  const fairClass = (limit: number, queueSize: number) => make(limit, { name: 'f', queue: { size: queueSize, timeoutMs: 1000 }, fairness: { header: 'x-tenant' } });

  it('a lone flow gets all idle capacity and the whole queue', () => {
    const rt = fairClass(4, 4);
    const d = Array.from({ length: 9 }, () => arrive(rt, 'noisy').d);
    expect(d).toEqual([GRANTED, GRANTED, GRANTED, GRANTED, QUEUE, QUEUE, QUEUE, QUEUE, O_CAPACITY]);
  });

  it('a quiet flow takes a queue place from the noisy one, whose newest waiter is refused with capacity', () => {
    const rt = fairClass(2, 4);
    const noisy = Array.from({ length: 6 }, () => arrive(rt, 'noisy'));
    const quiet = arrive(rt, 'quiet');
    expect(quiet.d).toBe(QUEUE);
    expect((noisy[5].h as Holder).log).toEqual(['ended capacity', 'capacity']);
    expect(rt.outcomes[O_CAPACITY]).toBe(1);
    expect(rt.limiter.queued).toBe(4);
    // The next freed slot goes to the flow holding fewest: quiet, though noisy waited longer.
    (noisy[0].h as Holder).end(O_SUCCESS);
    expect((quiet.h as Holder).active).toBe(true);
    expect((noisy[2].h as Holder).active).toBe(false);
    // noisy may fill the free place; past its share (4 places over 2 flows) it is refused.
    expect(arrive(rt, 'noisy').d).toBe(QUEUE);
    expect(arrive(rt, 'noisy').d).toBe(O_CAPACITY);
    expect(arrive(rt, 'quiet').d).toBe(QUEUE);
  });

  it('ten flows, one sending ten times the others: the nine quiet ones are never refused and the noisy one holds no more than its share once they wait', () => {
    // 12 slots, each request takes one round: the quiet flows need 9 a round, the noisy one asks 10.
    const rt = fairClass(12, 20);
    const quietKeys = Array.from({ length: 9 }, (_, i) => `q${i}`);
    const running: { key: string; h: Holder }[] = [];
    const refused: Record<string, number> = {};
    const held: number[] = [];
    for (let round = 0; round < 50; round++) {
      const arrivals = [...quietKeys, ...Array.from({ length: 10 }, () => 'noisy')];
      for (const key of arrivals) {
        const r = arrive(rt, key);
        if (r.h === null) refused[key] = (refused[key] ?? 0) + 1;
        else running.push({ key, h: r.h });
      }
      for (const r of running) if (r.h.log.includes('capacity')) refused[r.key] = (refused[r.key] ?? 0) + 1;
      const active = running.filter((r) => r.h.active);
      held.push(active.filter((r) => r.key === 'noisy').length);
      for (const r of active) r.h.end(O_SUCCESS);
      running.splice(0, running.length, ...running.filter((r) => !r.h.log.some((l) => l.startsWith('ended'))));
    }
    for (const k of quietKeys) expect(refused[k] ?? 0).toBe(0);
    expect(refused.noisy).toBeGreaterThan(0);
    // Max-min fair: the quiet flows take 9 of 12, the noisy one what they leave.
    expect(Math.max(...held.slice(5))).toBeLessThanOrEqual(3);
  });

  it('flows that hold nothing are forgotten; past MAX_FLOWS new keys share one flow', () => {
    const rt = fairClass(1, 1);
    const first = arrive(rt, 'a');
    const second = arrive(rt, 'b');
    expect(rt.limiter.fair?.size).toBe(2);
    (first.h as Holder).end(O_SUCCESS);
    expect(rt.limiter.fair?.size).toBe(1);
    arrive(rt, 'c');
    (second.h as Holder).end(O_SUCCESS);
    arrive(rt, 'd');
    t += 1000;
    rt.limiter.expireDue(t);
    expect(rt.limiter.fair?.size).toBe(1);
    expect(MAX_FLOWS).toBeGreaterThan(100);
  });

  it('a very long flow key is cut, not stored whole', () => {
    const rt = fairClass(1, 1);
    arrive(rt, 'x'.repeat(10_000));
    arrive(rt, 'x'.repeat(20_000));
    expect(rt.limiter.fair?.size).toBe(1);
  });
});

describe('adaptive limit on a class', () => {
  it('follows the latency of admitted requests (queue wait excluded) and is kept across config updates', () => {
    const settings: ClassSettings = { ...base, queue: { size: 1000, timeoutMs: 60_000 }, adaptive: { minLimit: 2, maxLimit: 50 } };
    const rt = make(20, settings);
    expect(rt.limiter.limit).toBe(20);
    const running: Holder[] = [];
    /** A request every 2 ms, each answered `latency` ms after it took its slot. */
    const run = (ms: number, latency: number): void => {
      for (const end = t + ms; t < end; t += 2) {
        const r = arrive(rt);
        if (r.h !== null) running.push(r.h);
        for (const h of running) if (h.active && t - h.admittedAt >= latency) h.end(O_SUCCESS);
        running.splice(0, running.length, ...running.filter((h) => h.state !== 2));
      }
    };
    run(3000, 10);
    const fast = rt.limiter.limit;
    expect(fast).toBeGreaterThanOrEqual(5);
    run(4000, 600);
    expect(rt.limiter.limit).toBeLessThanOrEqual(4);
    const learnt = rt.limiter.limit;
    rt.update({ ...settings, priority: 7 }, 20, 20);
    expect(rt.limiter.limit).toBe(learnt);
    expect(rt.baseLimit).toBe(learnt);
    rt.update({ ...base }, 20, 20);
    expect(rt.adaptive).toBeNull();
    expect(rt.limiter.limit).toBe(20);
  });
});

import { Registry } from 'prom-client';
import { WorkQueue } from '../../operator/workqueue.js';
import { WorkQueueMetrics } from '../../operator/workqueue-metrics.js';
import { ManualClock, flush } from './operator-fakes.js';

describe('WorkQueue', () => {
  it('holds a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a/x');
    q.add('a/y');
    q.add('a/x');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('a/x');
    expect(await q.get()).toBe('a/y');
    q.shutDown();
  });

  it('never hands out a key that is being processed; a re-add runs after done()', async () => {
    const q = new WorkQueue();
    q.add('a/x');
    const first = await q.get();
    q.add('a/x');
    q.add('a/x');
    expect(q.depth).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await flush();
    expect(second).toBeUndefined();
    q.done(first as string);
    await flush();
    expect(second).toBe('a/x');
    q.done('a/x');
    expect(q.depth).toBe(0);
    q.shutDown();
  });

  it('processes each key serially with concurrent workers', async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let overlaps = 0;
    let runs = 0;
    const worker = async () => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (active.has(k)) overlaps++;
        active.add(k);
        runs++;
        await new Promise((r) => setTimeout(r, 1));
        active.delete(k);
        q.done(k);
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    for (let i = 0; i < 50; i++) {
      q.add(`ns/k${i % 3}`);
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    q.shutDown();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(runs).toBeGreaterThanOrEqual(3);
  });

  it('backs off per key exponentially up to the cap, and forget() resets', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 1000 });
    expect([0, 1, 2, 3, 4, 10].map((n) => q.backoff(n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    q.addRateLimited('a/x');
    expect(q.depth).toBe(0);
    await clock.advance(99);
    expect(q.depth).toBe(0);
    await clock.advance(1);
    expect(q.depth).toBe(1);
    q.done((await q.get()) as string);
    q.addRateLimited('a/x');
    await clock.advance(199);
    expect(q.depth).toBe(0);
    await clock.advance(1);
    expect(q.depth).toBe(1);
    expect(q.numRequeues('a/x')).toBe(2);
    q.forget('a/x');
    expect(q.numRequeues('a/x')).toBe(0);
    q.done((await q.get()) as string);
    q.addRateLimited('a/x');
    await clock.advance(100);
    expect(q.depth).toBe(1);
    q.shutDown();
  });

  it('keeps the earlier of two delays for one key', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a/x', 5000);
    q.addAfter('a/x', 100);
    q.addAfter('a/x', 3000);
    await clock.advance(100);
    expect(q.depth).toBe(1);
    q.done((await q.get()) as string);
    await clock.advance(10_000);
    expect(q.depth).toBe(0);
    expect(clock.pending).toBe(0);
    q.shutDown();
  });

  it('shutDown releases waiting workers and drops delayed keys', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter('a/x', 1000);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(clock.pending).toBe(0);
    q.add('a/y');
    expect(await q.get()).toBeUndefined();
  });
});

describe('WorkQueue metrics (client-go names and semantics)', () => {
  /** Every sample of the workqueue_* metrics as `name{labels}` → value. */
  async function samples(registry: Registry): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const line of (await registry.metrics()).split('\n')) {
      if (!line.startsWith('workqueue_')) continue;
      const i = line.lastIndexOf(' ');
      out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return out;
  }
  const N = '{name="tp"}';
  const bucket = (metric: string, le: string) => `${metric}_bucket{le="${le}",name="tp"}`;

  function setup() {
    const clock = new ManualClock();
    const registry = new Registry();
    const q = new WorkQueue({ clock, metrics: new WorkQueueMetrics(registry).forQueue('tp', clock) });
    return { clock, registry, q };
  }

  it('exports every series from the start, at zero', async () => {
    const { registry, q } = setup();
    const m = await samples(registry);
    for (const name of ['workqueue_depth', 'workqueue_adds_total', 'workqueue_retries_total', 'workqueue_unfinished_work_seconds', 'workqueue_longest_running_processor_seconds']) {
      expect([name, m.get(name + N)]).toEqual([name, 0]);
    }
    expect(m.get('workqueue_queue_duration_seconds_count' + N)).toBe(0);
    expect(m.get('workqueue_work_duration_seconds_count' + N)).toBe(0);
    // client-go's ExponentialBuckets(10e-9, 10, 10): 10 ns … 10 s.
    const les = [...m.keys()].filter((k) => k.startsWith('workqueue_queue_duration_seconds_bucket')).map((k) => /le="([^"]+)"/.exec(k)?.[1]);
    expect(les).toEqual(['1e-8', '1e-7', '0.000001', '0.00001', '0.0001', '0.001', '0.01', '0.1', '1', '10', '+Inf']);
    q.shutDown();
  });

  it('counts adds, depth, time in queue and work duration on the injected clock', async () => {
    const { clock, registry, q } = setup();
    q.add('a/x');
    q.add('a/x'); // already waiting: neither an add nor depth
    q.add('a/y');
    let m = await samples(registry);
    expect(m.get('workqueue_adds_total' + N)).toBe(2);
    expect(m.get('workqueue_depth' + N)).toBe(2);

    await clock.advance(50);
    const x = (await q.get()) as string;
    m = await samples(registry);
    expect(m.get('workqueue_depth' + N)).toBe(1);
    expect(m.get('workqueue_queue_duration_seconds_count' + N)).toBe(1);
    expect(m.get('workqueue_queue_duration_seconds_sum' + N)).toBeCloseTo(0.05);
    expect(m.get(bucket('workqueue_queue_duration_seconds', '0.01'))).toBe(0);
    expect(m.get(bucket('workqueue_queue_duration_seconds', '0.1'))).toBe(1);

    await clock.advance(3000);
    m = await samples(registry);
    expect(m.get('workqueue_unfinished_work_seconds' + N)).toBeCloseTo(3);
    expect(m.get('workqueue_longest_running_processor_seconds' + N)).toBeCloseTo(3);
    const y = (await q.get()) as string;
    await clock.advance(1000);
    m = await samples(registry);
    expect(m.get('workqueue_unfinished_work_seconds' + N)).toBeCloseTo(4 + 1);
    expect(m.get('workqueue_longest_running_processor_seconds' + N)).toBeCloseTo(4);

    // Re-added while being processed: counted (and in depth) now, handed out after done().
    q.add(x);
    m = await samples(registry);
    expect(m.get('workqueue_adds_total' + N)).toBe(3);
    expect(m.get('workqueue_depth' + N)).toBe(1);
    q.done(x);
    q.done(y);
    m = await samples(registry);
    expect(m.get('workqueue_work_duration_seconds_count' + N)).toBe(2);
    expect(m.get('workqueue_work_duration_seconds_sum' + N)).toBeCloseTo(4 + 1);
    expect(m.get(bucket('workqueue_work_duration_seconds', '1'))).toBe(1);
    expect(m.get(bucket('workqueue_work_duration_seconds', '10'))).toBe(2);
    expect(m.get('workqueue_unfinished_work_seconds' + N)).toBe(0);
    expect(m.get('workqueue_longest_running_processor_seconds' + N)).toBe(0);
    expect(await q.get()).toBe(x);
    m = await samples(registry);
    expect(m.get('workqueue_depth' + N)).toBe(0);
    // Time in queue of the re-add: from its add (at 4.05 s) to now (still 4.05 s).
    expect(m.get('workqueue_queue_duration_seconds_count' + N)).toBe(3);
    q.shutDown();
  });

  it('counts a retry for every delayed re-add, as client-go counts AddAfter', async () => {
    const { clock, registry, q } = setup();
    q.addRateLimited('a/x');
    q.addAfter('a/y', 0);
    let m = await samples(registry);
    expect(m.get('workqueue_retries_total' + N)).toBe(2);
    expect(m.get('workqueue_adds_total' + N)).toBe(1);
    await clock.advance(100);
    m = await samples(registry);
    expect(m.get('workqueue_adds_total' + N)).toBe(2);
    expect(m.get('workqueue_depth' + N)).toBe(2);
    q.shutDown();
  });

  it('a second queue of the same name (a restarted controller) takes the series over', async () => {
    const registry = new Registry();
    const metrics = new WorkQueueMetrics(registry);
    const clock = new ManualClock();
    const first = new WorkQueue({ clock, metrics: metrics.forQueue('tp', clock) });
    first.add('a/x');
    await first.get();
    first.shutDown();
    const second = new WorkQueue({ clock, metrics: metrics.forQueue('tp', clock) });
    second.add('a/y');
    await clock.advance(2000);
    const m = await samples(registry);
    expect(m.get('workqueue_adds_total' + N)).toBe(2);
    expect(m.get('workqueue_depth' + N)).toBe(1);
    expect(m.get('workqueue_unfinished_work_seconds' + N)).toBe(0);
    second.shutDown();
  });
});

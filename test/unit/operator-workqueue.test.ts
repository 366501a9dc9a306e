import { WorkQueue } from '../../operator/workqueue.js';
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

import { Limiter, type Waiter } from '../../sidecar/limiter.js';

class W implements Waiter {
  dlPrev = null;
  dlNext = null;
  dlOwner = null;
  deadline = 0;
  constructor(
    readonly id: number,
    readonly log: string[],
  ) {}
  admitted(): void {
    this.log.push(`admit ${this.id}`);
  }
  queueTimedOut(): void {
    this.log.push(`timeout ${this.id}`);
  }
}

describe('Limiter', () => {
  let t = 0;
  const now = () => t;
  const limiters: Limiter[] = [];
  const make = (limit: number, queueSize: number, queueTimeoutMs = 60_000) => {
    const l = new Limiter({ limit, queueSize, queueTimeoutMs }, now);
    limiters.push(l);
    return l;
  };
  beforeEach(() => {
    t = 1000;
  });
  afterAll(() => limiters.forEach((l) => l.dispose()));

  it('admits up to the limit, then queues up to the queue size', () => {
    const log: string[] = [];
    const l = make(2, 2);
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(false);
    expect(l.enqueue(new W(1, log))).toBe(true);
    expect(l.enqueue(new W(2, log))).toBe(true);
    expect(l.enqueue(new W(3, log))).toBe(false);
    expect(l.inflight).toBe(2);
    expect(l.queued).toBe(2);
  });

  it('gives freed slots to waiters in FIFO order', () => {
    const log: string[] = [];
    const l = make(1, 10);
    l.tryAcquire();
    for (let i = 1; i <= 4; i++) l.enqueue(new W(i, log));
    l.release();
    l.release();
    expect(log).toEqual(['admit 1', 'admit 2']);
    expect(l.inflight).toBe(1);
    expect(l.queued).toBe(2);
  });

  it('a cancelled waiter leaves the queue and is never admitted', () => {
    const log: string[] = [];
    const l = make(1, 10);
    l.tryAcquire();
    const ws = [1, 2, 3].map((i) => new W(i, log));
    ws.forEach((w) => l.enqueue(w));
    l.cancel(ws[1]);
    l.cancel(ws[1]);
    expect(l.queued).toBe(2);
    l.release();
    l.release();
    expect(log).toEqual(['admit 1', 'admit 3']);
  });

  it('times out waiters whose deadline passed, oldest first, without touching inflight', () => {
    const log: string[] = [];
    const l = make(1, 10, 100);
    l.tryAcquire();
    l.enqueue(new W(1, log));
    t += 50;
    l.enqueue(new W(2, log));
    t += 60;
    l.expireDue();
    expect(log).toEqual(['timeout 1']);
    t += 40;
    l.expireDue();
    expect(log).toEqual(['timeout 1', 'timeout 2']);
    expect(l.inflight).toBe(1);
    expect(l.queued).toBe(0);
  });

  it('a grown limit admits waiters; a shrunk one only stops new admissions', () => {
    const log: string[] = [];
    const l = make(2, 10);
    l.tryAcquire();
    l.tryAcquire();
    l.enqueue(new W(1, log));
    l.enqueue(new W(2, log));
    l.setLimit(3);
    expect(log).toEqual(['admit 1']);
    l.update({ limit: 1, queueSize: 0, queueTimeoutMs: 10 });
    expect(l.inflight).toBe(3);
    expect(l.queued).toBe(1);
    expect(l.tryAcquire()).toBe(false);
    expect(l.enqueue(new W(3, log))).toBe(false);
    l.release();
    l.release();
    expect(log).toEqual(['admit 1']);
    l.release();
    expect(log).toEqual(['admit 1', 'admit 2']);
    expect(l.inflight).toBe(1);
  });

  it('its own timer expires waiters in real time', async () => {
    const real = new Limiter({ limit: 1, queueSize: 5, queueTimeoutMs: 30 }, () => performance.now());
    limiters.push(real);
    const log: string[] = [];
    real.tryAcquire();
    real.enqueue(new W(1, log));
    real.enqueue(new W(2, log));
    await new Promise((r) => setTimeout(r, 300));
    expect(log).toEqual(['timeout 1', 'timeout 2']);
  });
});

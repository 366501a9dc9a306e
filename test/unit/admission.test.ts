import { O_ABORTED, O_CAPACITY, O_LOAD_LEVEL, O_QUEUE_TIMEOUT, O_SUCCESS, O_TIMEOUT, OUTCOMES, outcomeCode } from '../../sidecar/admission/outcomes.js';
import { admit, GRANTED, QUEUE } from '../../sidecar/admission/permit.js';
import { ClassRuntime, type ClassSettings } from '../../sidecar/class-runtime.js';
import { DurationCounts } from '../../sidecar/inbound-metrics.js';
import { Holder } from '../support/permit-holder.js';

const SETTINGS: ClassSettings = {
  name: 'api',
  priority: 1,
  queue: { size: 1, timeoutMs: 100 },
  shedAtLevel: 2,
  timeoutMs: 50,
  rejectStatus: 503,
  affectsLoadLevel: true,
};

describe('admission core', () => {
  let t = 0;
  const runtimes: ClassRuntime[] = [];
  const make = (limit: number, settings: ClassSettings = SETTINGS) => {
    const rt = new ClassRuntime(settings, limit, () => t, new Float64Array(OUTCOMES.length), new DurationCounts());
    runtimes.push(rt);
    return rt;
  };
  beforeEach(() => {
    t = 1000;
  });
  afterAll(() => runtimes.forEach((r) => r.dispose()));

  it('outcome codes are the OUTCOMES indexes', () => {
    for (const name of OUTCOMES) expect(OUTCOMES[outcomeCode(name)]).toBe(name);
  });

  it('admit: permit, then queue, then refuse capacity; load level first', () => {
    const rt = make(1);
    expect(admit(rt, 0)).toBe(GRANTED);
    expect(admit(rt, 0)).toBe(QUEUE);
    expect(rt.limiter.enqueue(new Holder(rt))).toBe(true);
    expect(admit(rt, 0)).toBe(O_CAPACITY);
    expect(admit(rt, 2)).toBe(O_LOAD_LEVEL);
    expect(rt.outcomes[O_CAPACITY]).toBe(1);
    expect(rt.outcomes[O_LOAD_LEVEL]).toBe(1);
    expect(rt.limiter.inflight).toBe(1);
  });

  it('end() is the only release and runs once', () => {
    const rt = make(1);
    expect(admit(rt, 0)).toBe(GRANTED);
    const p = new Holder(rt);
    p.admitted();
    t += 10;
    expect(p.end(O_SUCCESS)).toBe(true);
    expect(p.end(O_SUCCESS)).toBe(false);
    expect(p.clientLeft()).toBe(false);
    expect(rt.limiter.inflight).toBe(0);
    expect(rt.outcomes[O_SUCCESS]).toBe(1);
    expect(rt.duration.count).toBe(1);
    expect(rt.timeouts.size).toBe(0);
    expect(p.log).toEqual(['forward', 'ended success']);
  });

  it('a queued holder gets the slot its predecessor gives back', () => {
    const rt = make(1);
    admit(rt, 0);
    const first = new Holder(rt);
    first.admitted();
    expect(admit(rt, 0)).toBe(QUEUE);
    const second = new Holder(rt);
    rt.limiter.enqueue(second);
    first.end(O_SUCCESS);
    expect(second.active).toBe(true);
    expect(second.log).toEqual(['forward']);
    expect(rt.limiter.inflight).toBe(1);
  });

  it('a queue timeout refuses without a slot; a client leaving the queue is aborted', () => {
    const rt = make(1, { ...SETTINGS, queue: { size: 2, timeoutMs: 100 } });
    admit(rt, 0);
    new Holder(rt).admitted();
    const late = new Holder(rt);
    const gone = new Holder(rt);
    rt.limiter.enqueue(late);
    rt.limiter.enqueue(gone);
    expect(gone.clientLeft()).toBe(false);
    t += 100;
    rt.limiter.expireDue(t);
    expect(late.log).toEqual(['ended queue-timeout', 'queue-timeout']);
    expect(gone.log).toEqual(['ended aborted']);
    expect(late.end(O_SUCCESS)).toBe(false);
    expect(rt.outcomes[O_QUEUE_TIMEOUT]).toBe(1);
    expect(rt.outcomes[O_ABORTED]).toBe(1);
    expect(rt.limiter.inflight).toBe(1);
    expect(rt.limiter.queued).toBe(0);
  });

  it('the class timeout ends an active permit with timeout, once', () => {
    const rt = make(1);
    admit(rt, 0);
    const p = new Holder(rt);
    p.admitted();
    t += 50;
    rt.timeouts.expireDue(t);
    expect(p.log).toEqual(['forward', 'ended timeout', 'timed-out']);
    expect(rt.outcomes[O_TIMEOUT]).toBe(1);
    expect(p.end(O_SUCCESS)).toBe(false);
    expect(rt.limiter.inflight).toBe(0);
  });

  it('an active holder whose client left decides its own outcome', () => {
    const rt = make(1);
    admit(rt, 0);
    const p = new Holder(rt);
    p.admitted();
    expect(p.clientLeft()).toBe(true);
    expect(p.end(O_ABORTED)).toBe(true);
    expect(rt.outcomes[O_ABORTED]).toBe(1);
  });
});

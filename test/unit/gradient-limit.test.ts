import { BASELINE_EPOCH_MS, GradientLimit, MIN_SAMPLES, WINDOW_MS } from '../../sidecar/admission/gradient-limit.js';

/**
 * Drives the controller like a class under steady offered load: a sample every `stepMs`, with a
 * latency from `rtt(t)` and in-flight `demand` capped by the limit (a closed loop: a busy
 * class fills its limit).
 */
function drive(g: GradientLimit, from: number, to: number, rtt: (t: number) => number, demand = Infinity, stepMs = 2): { t: number; limit: number }[] {
  const trace: { t: number; limit: number }[] = [];
  for (let t = from; t < to; t += stepMs) {
    g.sample(rtt(t), Math.min(demand, g.limit), t);
    trace.push({ t, limit: g.limit });
  }
  return trace;
}

const bounds = { minLimit: 2, maxLimit: 200 };

describe('GradientLimit', () => {
  it('starts at the static limit, clamped to the bounds', () => {
    expect(new GradientLimit(bounds, 50).limit).toBe(50);
    expect(new GradientLimit(bounds, 1).limit).toBe(2);
    expect(new GradientLimit(bounds, 900).limit).toBe(200);
  });

  it('does not move before a window has closed', () => {
    const g = new GradientLimit(bounds, 50);
    for (let i = 0; i < MIN_SAMPLES * 3; i++) expect(g.sample(10, 50, i)).toBe(false);
    expect(g.limit).toBe(50);
  });

  it('grows towards maxLimit while latency stays at its baseline and the class is busy', () => {
    const g = new GradientLimit(bounds, 20);
    drive(g, 0, 5000, () => 10);
    expect(g.limit).toBe(200);
  });

  it('does not grow while the class uses under half its limit (app-limited), but drifts down to twice its use', () => {
    const g = new GradientLimit(bounds, 100);
    const trace = drive(g, 0, 8000, () => 10, 20);
    expect(Math.max(...trace.map((s) => s.limit))).toBe(100);
    expect(g.limit).toBeGreaterThanOrEqual(40);
    expect(g.limit).toBeLessThanOrEqual(42);
  });

  it('falls from maxLimit to a few slots within two seconds when latency jumps 10 → 600 ms, and stays there while it lasts', () => {
    const g = new GradientLimit(bounds, 100);
    drive(g, 0, 3000, () => 10);
    expect(g.limit).toBe(200);
    const slow = drive(g, 3000, 18_000, () => 600, Infinity, 5);
    const down = slow.find((s) => s.limit <= 5);
    expect(down).toBeDefined();
    expect((down as { t: number }).t - 3000).toBeLessThanOrEqual(2000);
    expect(slow.filter((s) => s.t > 5000).every((s) => s.limit <= 5)).toBe(true);
    expect(slow[slow.length - 1].limit).toBeLessThanOrEqual(3);
  });

  it('recovers to its former limit within 10 s of the slowdown ending', () => {
    const g = new GradientLimit(bounds, 100);
    drive(g, 0, 3000, () => 10);
    const before = g.limit;
    drive(g, 3000, 18_000, () => 600, Infinity, 5);
    const after = drive(g, 18_000, 30_000, () => 10);
    const back = after.find((s) => s.limit >= before);
    expect(back).toBeDefined();
    expect((back as { t: number }).t - 18_000).toBeLessThan(10_000);
  });

  it('a moderate rise (×1.2, within the buffer) does not cut the limit', () => {
    const g = new GradientLimit(bounds, 100);
    drive(g, 0, 2000, () => 10, 100);
    const trace = drive(g, 2000, 6000, () => 12, 100);
    expect(Math.min(...trace.map((s) => s.limit))).toBeGreaterThanOrEqual(100);
  });

  it('latency that keeps rising with the limit (a saturated upstream) holds the limit below where latency doubles', () => {
    // Upstream with capacity 40: latency 10 ms up to 40 in flight, then grows linearly (queueing).
    const g = new GradientLimit(bounds, 20);
    drive(g, 0, 20_000, () => 10 * Math.max(1, g.limit / 40));
    expect(g.limit).toBeLessThanOrEqual(80);
    expect(g.limit).toBeGreaterThanOrEqual(30);
  });

  it('a slowdown longer than two baseline epochs becomes the new baseline', () => {
    const g = new GradientLimit(bounds, 100);
    drive(g, 0, 3000, () => 10);
    drive(g, 3000, 3000 + 2 * BASELINE_EPOCH_MS + 5000, () => 600, Infinity, 5);
    expect(g.minRtt).toBeGreaterThan(500);
    expect(g.limit).toBeGreaterThan(bounds.minLimit + 10);
  });

  it('new bounds keep the learnt estimate, clamped', () => {
    const g = new GradientLimit(bounds, 100);
    g.setBounds({ minLimit: 5, maxLimit: 60 });
    expect(g.limit).toBe(60);
    g.setBounds({ minLimit: 5, maxLimit: 500 });
    expect(g.limit).toBe(60);
  });

  it('a window with few samples still closes after the longest window', () => {
    const g = new GradientLimit(bounds, 100);
    drive(g, 0, 2000, () => 10);
    // Two samples a second at 600 ms: windows close on time, not on count.
    const slow = drive(g, 2000, 12_000, () => 600, Infinity, 500);
    expect(slow[slow.length - 1].limit).toBeLessThan(10);
    expect(WINDOW_MS).toBeLessThan(500);
  });
});

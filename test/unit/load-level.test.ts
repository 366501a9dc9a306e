import { LoadLevel } from '../../sidecar/load-level.js';

describe('LoadLevel', () => {
  const settings = { thresholds: [0.7, 0.85, 0.95], holdSeconds: 5 };

  it('rises at once to the level the utilisation reaches', () => {
    const l = new LoadLevel(settings);
    expect(l.update(0.5, 0)).toBe(0);
    expect(l.update(0.7, 100)).toBe(1);
    expect(l.update(0.96, 200)).toBe(3);
    const m = new LoadLevel(settings);
    expect(m.update(0.9, 0)).toBe(2);
  });

  it('falls only after utilisation stayed below the level for holdSeconds', () => {
    const l = new LoadLevel(settings);
    l.update(0.9, 0);
    expect(l.update(0.1, 1000)).toBe(2);
    expect(l.update(0.1, 5999)).toBe(2);
    expect(l.update(0.1, 6000)).toBe(0);
  });

  it('a return above the threshold restarts the hold', () => {
    const l = new LoadLevel(settings);
    l.update(0.75, 0);
    l.update(0.5, 1000);
    l.update(0.72, 4000);
    expect(l.update(0.5, 5000)).toBe(1);
    expect(l.update(0.5, 9999)).toBe(1);
    expect(l.update(0.5, 10_000)).toBe(0);
  });

  it('steps down to the level the utilisation gives, then holds again', () => {
    const l = new LoadLevel(settings);
    l.update(0.99, 0);
    l.update(0.8, 1000);
    expect(l.update(0.8, 6000)).toBe(1);
    expect(l.update(0.8, 20_000)).toBe(1);
    l.update(0.2, 21_000);
    expect(l.update(0.2, 25_999)).toBe(1);
    expect(l.update(0.2, 26_000)).toBe(0);
  });

  it('holdSeconds 0 falls at once; configure keeps the level; reset goes to 0', () => {
    const l = new LoadLevel({ thresholds: [0.5, 0.6, 0.7], holdSeconds: 0 });
    l.update(0.65, 0);
    expect(l.update(0.1, 0)).toBe(0);
    l.update(0.65, 1);
    l.configure({ thresholds: [0.9, 0.95, 0.99], holdSeconds: 1 });
    expect(l.level).toBe(2);
    expect(l.update(0.1, 2)).toBe(2);
    expect(l.update(0.1, 1002)).toBe(0);
    l.update(1, 2000);
    l.reset();
    expect(l.level).toBe(0);
  });
});

import { AccessLog, LineSampler } from '../../sidecar/admission/access-log.js';
import { createLogger } from '../../lib/log.js';

describe('LineSampler', () => {
  it('lets N lines through per one-second window and counts the rest', () => {
    const s = new LineSampler(3);
    expect(s.roll(1000)).toBe(0);
    expect([s.take(), s.take(), s.take(), s.take(), s.take()]).toEqual([true, true, true, false, false]);
    expect(s.roll(1999)).toBe(0);
    expect(s.take()).toBe(false);
    expect(s.roll(2000)).toBe(3);
    expect(s.take()).toBe(true);
    expect(s.roll(3500)).toBe(0);
  });
});

describe('AccessLog', () => {
  let t = 0;
  const make = (mode: 'refusals' | 'all', linesPerSecond = 2) => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    return { lines, log: new AccessLog({ mode, logger, linesPerSecond, now: () => t }) };
  };
  beforeEach(() => {
    t = 10_000;
  });

  it('a storm is cut to the budget and the suppressed count is logged once per window', () => {
    const { lines, log } = make('refusals');
    for (let i = 0; i < 10; i++) log.refused('login', 'load-level', 503, 'POST', '/login', 2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'refused', class: 'login', reason: 'load-level', status: 503, method: 'POST', path: '/login', loadLevel: 2 });
    t += 1000;
    log.flush(t);
    log.flush(t + 1);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ level: 'warn', msg: 'access log lines suppressed', suppressed: 8 });
    log.refused('login', 'capacity', 503, 'POST', '/login', 0);
    expect(lines).toHaveLength(4);
  });

  it('the next line rolls the window when no timer has', () => {
    const { lines, log } = make('refusals', 1);
    log.refused('a', 'capacity', 503, 'GET', '/', 0);
    log.refused('a', 'capacity', 503, 'GET', '/', 0);
    t += 1500;
    log.refused('a', 'capacity', 503, 'GET', '/', 0);
    expect(lines.map((l) => l.msg)).toEqual(['refused', 'access log lines suppressed', 'refused']);
  });

  it('only `all` writes end lines; client strings are cut', () => {
    expect(make('refusals').log.ends).toBe(false);
    const { lines, log } = make('all');
    expect(log.ends).toBe(true);
    log.ended('api', 'success', 200, 'GET', '/x'.repeat(1000), 0, 12.345);
    expect(lines[0]).toMatchObject({ msg: 'request', class: 'api', level: 'info', outcome: 'success', status: 200, loadLevel: 0, durationMs: 12.3 });
    expect(String(lines[0].path)).toHaveLength(256);
  });
});

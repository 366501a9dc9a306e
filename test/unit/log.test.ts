/** The one log format of both processes (lib/log.ts). */
import { createLogger, serializeError, type LoggerOptions } from '../../lib/log.js';

function capture(options: Omit<LoggerOptions, 'write'> = {}) {
  const raw: string[] = [];
  const log = createLogger({ ...options, write: (line) => void raw.push(line) });
  return { log, raw, lines: () => raw.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('log format', () => {
  it('writes one JSON object per line: time, level, component, msg first, then the fields', () => {
    const c = capture({ fields: { component: 'operator' } });
    c.log.info('started', { admin: 17091, namespaces: ['talk'] });
    expect(c.raw).toHaveLength(1);
    expect(c.raw[0].endsWith('\n')).toBe(true);
    expect(c.raw[0].slice(0, -1)).not.toContain('\n');
    const line = c.lines()[0];
    expect(Object.keys(line).slice(0, 4)).toEqual(['time', 'level', 'component', 'msg']);
    expect(line).toEqual({ time: expect.any(String), level: 'info', component: 'operator', msg: 'started', admin: 17091, namespaces: ['talk'] });
    expect(new Date(line.time).toISOString()).toBe(line.time);
  });

  it('serialises an error with its type, message, stack, code and cause chain', () => {
    const c = capture();
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    c.log.error('publish failed', { err: new TypeError('Redis unavailable', { cause: root }) });
    const { err } = c.lines()[0];
    expect(err).toMatchObject({ type: 'TypeError', message: 'Redis unavailable', stack: expect.stringContaining('TypeError: Redis unavailable\n    at ') });
    expect(err.cause).toMatchObject({ type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6379', code: 'ECONNREFUSED', stack: expect.any(String) });
  });

  it('names subclasses, unpacks AggregateErrors, bounds a cause cycle, wraps thrown non-errors', () => {
    class RetryableError extends Error {}
    expect(serializeError(new RetryableError('x')).type).toBe('RetryableError');
    const agg = serializeError(new AggregateError([new Error('a'), new Error('b')], ''));
    expect(agg.errors?.map((e) => e.message)).toEqual(['a', 'b']);
    const loop = new Error('loop');
    loop.cause = loop;
    let depth = 0;
    for (let e = serializeError(loop); e.cause; e = e.cause) depth++;
    expect(depth).toBe(5);
    const c = capture();
    c.log.warn('odd throw', { err: 'a string' });
    expect(c.lines()[0].err).toEqual({ type: 'string', message: 'a string' });
  });

  it('filters by level', () => {
    const c = capture({ level: 'warn' });
    c.log.debug('d');
    c.log.info('i');
    c.log.warn('w');
    c.log.error('e');
    expect(c.lines().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('child loggers add fields and nest the component; a child keeps the level', () => {
    const c = capture({ level: 'info', fields: { component: 'operator' } });
    const reconcile = c.log.child({ component: 'reconcile' });
    reconcile.child({ worker: 2 }).info('config published', { key: 'talk/chat', version: 3 });
    reconcile.debug('hidden');
    expect(c.lines()).toEqual([expect.objectContaining({ component: 'operator.reconcile', worker: 2, key: 'talk/chat', version: 3, msg: 'config published' })]);
  });

  it('fields cannot overwrite time, level, component or msg; a cyclic field does not throw', () => {
    const c = capture({ fields: { component: 'sidecar' } });
    c.log.info('real', { msg: 'forged', level: 'error', component: 'x', time: 'never' });
    expect(c.lines()[0]).toMatchObject({ msg: 'real', level: 'info', component: 'sidecar' });
    expect(c.lines()[0].time).not.toBe('never');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    c.log.warn('cyclic', { cyclic, big: 1n });
    expect(c.lines()[1]).toMatchObject({ msg: 'cyclic', level: 'warn', logError: expect.stringContaining('circular') });
    c.log.info('bigint', { big: 2n ** 70n });
    expect(c.lines()[2].big).toBe('1180591620717411303424');
  });
});

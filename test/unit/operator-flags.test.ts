import { FlagError, parseDuration, parseFlags } from '../../operator/main.js';

describe('operator flags', () => {
  it('reads flags, with env as fallback and documented defaults', () => {
    const f = parseFlags(['--redis', 'redis://r:6379', '--namespace', 'talk,relay', '--namespace', 'push', '--leader-elect'], {});
    expect(f).toMatchObject({
      redis: 'redis://r:6379',
      namespaces: ['talk', 'relay', 'push'],
      leaderElect: true,
      leaseName: 'spillway-operator',
      leaseNamespace: expect.any(String),
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      admin: 17091,
    });
    const e = parseFlags([], { SPILLWAY_REDIS: 'redis://e', SPILLWAY_NAMESPACE: 'a,b', SPILLWAY_ADMIN: '0', KUBECONFIG: '/k' });
    expect(e).toMatchObject({ redis: 'redis://e', namespaces: ['a', 'b'], admin: 0, kubeconfig: '/k', leaderElect: false });
  });

  it('rejects bad flags with a clear message', () => {
    expect(() => parseFlags([], {})).toThrow(/--redis .* is required/);
    expect(() => parseFlags(['--redis', 'localhost:6379'], {})).toThrow(/not a redis:\/\//);
    expect(() => parseFlags(['--redis', 'redis://x', '--bogus'], {})).toThrow(FlagError);
    expect(() => parseFlags(['--redis', 'redis://x', '--admin', 'abc'], {})).toThrow(/--admin/);
    expect(() => parseFlags(['--redis', 'redis://x', '--lease-duration', '5s'], {})).toThrow(/--lease-duration > --renew-deadline/);
    expect(parseFlags(['--help'], {}).help).toBe(true);
  });

  it('reads the vendor health interval (default 5 s, 0 turns it off)', () => {
    expect(parseFlags(['--redis', 'redis://x'], {}).vendorHealthIntervalMs).toBe(5000);
    expect(parseFlags(['--redis', 'redis://x', '--vendor-health-interval', '2s'], {}).vendorHealthIntervalMs).toBe(2000);
    expect(parseFlags(['--redis', 'redis://x', '--vendor-health-interval', '0'], {}).vendorHealthIntervalMs).toBe(0);
    expect(parseFlags(['--redis', 'redis://x', '--vendor-health-interval', '0s'], {}).vendorHealthIntervalMs).toBe(0);
    expect(() => parseFlags(['--redis', 'redis://x', '--vendor-health-interval', 'often'], {})).toThrow(/--vendor-health-interval/);
  });

  it('parses durations', () => {
    expect(parseDuration('x', '500ms')).toBe(500);
    expect(parseDuration('x', '2s')).toBe(2000);
    expect(parseDuration('x', '1.5')).toBe(1500);
    expect(parseDuration('x', '1m')).toBe(60_000);
    expect(() => parseDuration('x', 'soon')).toThrow(/not a duration/);
  });
});

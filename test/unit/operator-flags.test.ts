import { duration, UsageError } from '../../lib/flags.js';
import { OPERATOR_USAGE, parseOperatorFlags } from '../../operator/flags.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const f = parseOperatorFlags(argv, env);
  if (!f) throw new Error('unexpected --help');
  return f;
};

describe('operator flags', () => {
  it('--workload-redis-url: off by default; a URL without credentials, one node or Cluster', () => {
    expect(parse(['--redis', 'redis://r']).workloadRedisUrl).toBeNull();
    expect(parse(['--redis', 'redis://r', '--workload-redis-url', 'redis+cluster://a:1,b:2']).workloadRedisUrl).toBe('redis+cluster://a:1,b:2');
    expect(() => parse(['--redis', 'redis://r', '--workload-redis-url', 'redis://u:p@r'])).toThrow(/--workload-redis-url: no credentials/);
    expect(() => parse(['--redis', 'redis://r', '--workload-redis-url', 'redis+sentinel://s/m'])).toThrow(/--workload-redis-url: not with Sentinel/);
    expect(() => parse(['--redis', 'redis://r', '--workload-redis-url', 'http://r'])).toThrow(UsageError);
  });

  it('reads flags, with env as fallback and documented defaults', () => {
    const f = parse(['--redis', 'redis://r:6379', '--namespace', 'talk,relay', '--namespace', 'push', '--leader-elect']);
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
      workers: 4,
      logLevel: 'info',
    });
    const e = parse([], { SPILLWAY_REDIS: 'redis://e', SPILLWAY_NAMESPACE: 'a,b', SPILLWAY_ADMIN: '0', KUBECONFIG: '/k' });
    expect(e).toMatchObject({ redis: 'redis://e', namespaces: ['a', 'b'], admin: 0, kubeconfig: '/k', leaderElect: false });
  });

  it('has an environment fallback for every flag, and the flag wins', () => {
    const env = {
      SPILLWAY_REDIS: 'redis://e',
      SPILLWAY_LEADER_ELECT: 'true',
      SPILLWAY_LEASE_NAME: 'lease-e',
      SPILLWAY_LEASE_NAMESPACE: 'ns-e',
      SPILLWAY_LEASE_DURATION: '30s',
      SPILLWAY_RENEW_DEADLINE: '20s',
      SPILLWAY_RETRY_PERIOD: '5s',
      SPILLWAY_WORKERS: '8',
      SPILLWAY_VENDOR_HEALTH_INTERVAL: '0',
      SPILLWAY_LOG_LEVEL: 'debug',
      SPILLWAY_WEBHOOK_PORT: '8443',
      SPILLWAY_WEBHOOK_SELF_SIGNED: 'true',
      SPILLWAY_WEBHOOK_SERVICE: 'svc',
      SPILLWAY_WEBHOOK_NAMESPACE: 'wh-ns',
      SPILLWAY_WEBHOOK_CONFIGURATION: 'cfg',
      SPILLWAY_WEBHOOK_TLS_SECRET: 'secret-e',
      SPILLWAY_INJECTION_CONFIG: '/etc/inj.json',
      SPILLWAY_WEBHOOK_CERT_DIR: '/certs',
      SPILLWAY_WORKLOAD_REDIS_URL: 'rediss://redis.spillway.svc:6379',
    };
    expect(parse([], env)).toMatchObject({
      leaderElect: true,
      leaseName: 'lease-e',
      leaseNamespace: 'ns-e',
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 5_000,
      workers: 8,
      vendorHealthIntervalMs: 0,
      logLevel: 'debug',
      workloadRedisUrl: 'rediss://redis.spillway.svc:6379',
      webhook: {
        port: 8443,
        certDir: '/certs',
        selfSigned: { service: 'svc', namespace: 'wh-ns', configName: 'cfg', secretName: 'secret-e' },
        injectionConfig: '/etc/inj.json',
      },
    });
    expect(parse(['--workers', '2', '--log-level', 'warn', '--lease-name', 'lease-f', '--webhook-port', '0'], env)).toMatchObject({
      workers: 2,
      logLevel: 'warn',
      leaseName: 'lease-f',
      webhook: null,
    });
    // POD_NAMESPACE is the Lease's and the webhook's namespace unless they are set.
    expect(parse(['--redis', 'redis://x'], { POD_NAMESPACE: 'pod-ns' }).leaseNamespace).toBe('pod-ns');
  });

  it('rejects bad flags with a clear message', () => {
    expect(() => parse([])).toThrow(/--redis .* is required/);
    expect(() => parse(['--redis', 'localhost:6379'])).toThrow(/not a redis:\/\//);
    expect(() => parse(['--redis', 'redis+cluster://:pw@a:7000/0'])).toThrow(/^--redis: "redis\+cluster:\/\/:\*\*\*@a:7000\/0": a Cluster URL has no path/);
    expect(parse(['--redis', 'rediss+sentinel://s1:26379,s2:26379/mymaster']).redis).toBe('rediss+sentinel://s1:26379,s2:26379/mymaster');
    expect(() => parse(['--redis', 'redis://x', '--bogus'])).toThrow(UsageError);
    expect(() => parse(['--redis', 'redis://x', '--admin', 'abc'])).toThrow(/--admin/);
    expect(() => parse(['--redis', 'redis://x', '--workers', '0'])).toThrow(/--workers: "0" is not an integer in 1..64/);
    expect(() => parse(['--redis', 'redis://x', '--lease-duration', '5s'])).toThrow(/--lease-duration > --renew-deadline/);
    expect(() => parse(['--redis', 'redis://x', '--log-level', 'loud'])).toThrow(/--log-level: "loud" is not one of debug, info, warn, error/);
    expect(() => parse(['--redis', 'redis://x', '--namespace', 'Talk'])).toThrow(/--namespace: "Talk" is not a Kubernetes name/);
    expect(() => parse(['--redis', 'redis://x'], { SPILLWAY_LEADER_ELECT: 'yes' })).toThrow(/SPILLWAY_LEADER_ELECT: "yes" is not true or false/);
    expect(() => parse(['--redis', 'redis://x', '--webhook-self-signed', '--injection-config', '/i'])).toThrow(/--webhook-self-signed needs/);
    expect(() => parse(['--redis', 'redis://x', 'extra'])).toThrow(/positional/i);
    expect(parseOperatorFlags(['--help'], {})).toBeNull();
    expect(parseOperatorFlags(['-h'], {})).toBeNull();
  });

  it('reads the vendor health interval (default 5 s, 0 turns it off)', () => {
    expect(parse(['--redis', 'redis://x']).vendorHealthIntervalMs).toBe(5000);
    expect(parse(['--redis', 'redis://x', '--vendor-health-interval', '2s']).vendorHealthIntervalMs).toBe(2000);
    expect(parse(['--redis', 'redis://x', '--vendor-health-interval', '0']).vendorHealthIntervalMs).toBe(0);
    expect(parse(['--redis', 'redis://x', '--vendor-health-interval', '0s']).vendorHealthIntervalMs).toBe(0);
    expect(() => parse(['--redis', 'redis://x', '--vendor-health-interval', 'often'])).toThrow(/--vendor-health-interval/);
  });

  it('parses durations', () => {
    expect(duration('--x', '500ms')).toBe(500);
    expect(duration('--x', '2s')).toBe(2000);
    expect(duration('--x', '1.5')).toBe(1500);
    expect(duration('--x', '1m')).toBe(60_000);
    expect(() => duration('--x', 'soon')).toThrow(/not a duration/);
    expect(() => duration('--x', '0')).toThrow(/--x: must be positive/);
    expect(() => duration('--x', '99999m')).toThrow(/longer than 24h/);
  });

  it('usage lists every flag with its variable', () => {
    for (const [flag, env] of [
      ['--kubeconfig', 'KUBECONFIG'],
      ['--lease-duration', 'SPILLWAY_LEASE_DURATION'],
      ['--log-level', 'SPILLWAY_LOG_LEVEL'],
      ['--injection-config', 'SPILLWAY_INJECTION_CONFIG'],
    ]) {
      expect(OPERATOR_USAGE).toMatch(new RegExp(`${flag}\\s+${env}\\s`));
    }
  });
});

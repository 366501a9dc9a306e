/**
 * `spillway sidecar` flags and their environment fallbacks (pure parsing; the process test
 * checks the exit code of a bad flag end to end).
 */
import { hostname } from 'node:os';
import { UsageError } from '../../lib/flags.js';
import { parseSidecarFlags } from '../../sidecar/config/flags.js';
import { defaultStateDir } from '../../sidecar/config/state-dir.js';

describe('sidecar flags', () => {
  test('defaults follow the contract', () => {
    expect(parseSidecarFlags([], {})).toEqual({
      listen: 17001,
      upstream: 'http://127.0.0.1:8080',
      egress: 17002,
      admin: 17090,
      host: '0.0.0.0',
      adminInternalsAddress: '127.0.0.1',
      podName: hostname(),
      policy: null,
      redis: null,
      redisOptional: false,
      configKey: null,
      kafka: [],
      stateDir: defaultStateDir(),
      pollIntervalMs: 10_000,
      logLevel: 'info',
      accessLog: 'off',
      readyWithoutConfigAfterS: 0,
    });
  });

  test('environment fallbacks, and flags win over them', () => {
    const env = {
      SPILLWAY_LISTEN: '16001',
      SPILLWAY_UPSTREAM: 'http://app:9000',
      SPILLWAY_EGRESS: '16002',
      SPILLWAY_ADMIN: '16090',
      SPILLWAY_POLICY: '/etc/spillway/policy.yaml',
      SPILLWAY_REDIS: 'redis://redis:6379',
      SPILLWAY_CONFIG_KEY: 'talk/chat',
      SPILLWAY_KAFKA: 'k1:9092, k2:9092',
      SPILLWAY_STATE_DIR: '/var/lib/spillway',
      POD_NAME: 'chat-0',
      SPILLWAY_LOG_LEVEL: 'debug',
      SPILLWAY_ACCESS_LOG: 'refusals',
      SPILLWAY_READY_WITHOUT_CONFIG_AFTER: '60',
      SPILLWAY_ADMIN_INTERNALS_ADDRESS: '0.0.0.0',
    };
    expect(parseSidecarFlags([], env)).toMatchObject({
      listen: 16001,
      upstream: 'http://app:9000',
      egress: 16002,
      admin: 16090,
      policy: '/etc/spillway/policy.yaml',
      redis: 'redis://redis:6379',
      configKey: 'talk/chat',
      kafka: ['k1:9092', 'k2:9092'],
      stateDir: '/var/lib/spillway',
      podName: 'chat-0',
      logLevel: 'debug',
      accessLog: 'refusals',
      readyWithoutConfigAfterS: 60,
      adminInternalsAddress: '0.0.0.0',
    });
    expect(parseSidecarFlags(['--access-log', 'all'], env)?.accessLog).toBe('all');
    expect(parseSidecarFlags(['--admin-internals-address', '::1'], env)?.adminInternalsAddress).toBe('::1');
    expect(() => parseSidecarFlags(['--admin-internals-address', 'localhost'], {})).toThrow(/--admin-internals-address: "localhost" is not an IP address/);
    expect(parseSidecarFlags(['--listen', '17001', '--pod-name=chat-1', '--config-key', 'talk/other', '--ready-without-config-after', '5'], env)).toMatchObject({
      listen: 17001,
      readyWithoutConfigAfterS: 5,
      podName: 'chat-1',
      configKey: 'talk/other',
    });
    // With per-workload Redis users the webhook allows a missing URL (no TrafficPolicy yet).
    expect(() => parseSidecarFlags([], { SPILLWAY_CONFIG_KEY: 'talk/chat' })).toThrow(/--config-key needs --redis/);
    expect(parseSidecarFlags([], { SPILLWAY_CONFIG_KEY: 'talk/chat', SPILLWAY_REDIS_OPTIONAL: 'true' })).toMatchObject({ redis: null, redisOptional: true, configKey: 'talk/chat' });
    // An empty variable counts as unset.
    expect(parseSidecarFlags([], { SPILLWAY_LISTEN: '' })?.listen).toBe(17001);
  });

  test('--help', () => {
    expect(parseSidecarFlags(['--help'], {})).toBeNull();
    expect(parseSidecarFlags(['-h'], {})).toBeNull();
  });

  test.each([
    [['--config-key', 'talk/chat'], /--config-key needs --redis/],
    [['--redis', 'redis://r:6379'], /--redis needs --config-key/],
    [['--redis', 'http://r:6379', '--config-key', 'talk/chat'], /--redis: "http:\/\/r:6379" is not a redis:\/\/, rediss:\/\/, redis\+sentinel:\/\//],
    [['--redis', 'not a url', '--config-key', 'talk/chat'], /--redis: contains whitespace/],
    [['--redis', 'redis+sentinel://:pw@s1:26379', '--config-key', 'talk/chat'], /--redis: "redis\+sentinel:\/\/:\*\*\*@s1:26379": name the master/],
    [['--redis', 'redis+cluster://a:7000,a:7000', '--config-key', 'talk/chat'], /--redis: .* listed twice/],
    [['--redis', 'redis://r', '--config-key', 'chat'], /--config-key: "chat" is not <namespace>\/<target>/],
    [['--redis', 'redis://r', '--config-key', 'Talk/chat'], /--config-key/],
    [['--redis', 'redis://r', '--config-key', 'talk/chat/x'], /--config-key/],
    [['--listen', '70000'], /--listen: "70000" is not an integer in 0..65535/],
    [['--admin', 'abc'], /--admin/],
    [['--upstream', 'ftp://app'], /--upstream/],
    [['--kafka', 'broker'], /--kafka: "broker" is not host:port/],
    [['--log-level', 'loud'], /--log-level/],
    [['--access-log', 'some'], /--access-log: "some" is not one of off, refusals, all/],
    [['--poll-interval-ms', '5'], /--poll-interval-ms/],
    [['--ready-without-config-after=-1'], /--ready-without-config-after: "-1" is not an integer in 0..86400/],
    [['--ready-without-config-after', '1.5'], /--ready-without-config-after/],
    [['--ready-without-config-after', '86401'], /--ready-without-config-after/],
    [['--max-header-bytes', '100'], /--max-header-bytes: "100" is not an integer in 1024..1048576/],
    [['--max-header-count', '0'], /--max-header-count/],
    [['--header-timeout-ms', '10s'], /--header-timeout-ms/],
    [['--idle-timeout-ms', '-5'], /--idle-timeout-ms/],
    [['--body-timeout-ms', '10'], /--body-timeout-ms: "10" is not an integer in 1000..3600000/],
    [['--max-client-connections', '0'], /--max-client-connections: "0" is not an integer in 1..1000000/],
    [['--max-client-connections', '1e4'], /--max-client-connections/],
    [['--nope'], /Unknown option '--nope'/],
    [['extra'], /positional/i],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseSidecarFlags(argv, {})).toThrow(UsageError);
    expect(() => parseSidecarFlags(argv, {})).toThrow(message);
  });

  test('engine limits: unset stays undefined (the engine default applies); set by flag or env', () => {
    const o = parseSidecarFlags(['--max-header-bytes', '8192', '--header-timeout-ms=2000'], {
      SPILLWAY_IDLE_TIMEOUT_MS: '700',
      SPILLWAY_MAX_HEADER_COUNT: '50',
      SPILLWAY_MAX_CLIENT_CONNECTIONS: '2000',
    });
    expect(o).toMatchObject({ maxHeaderBytes: 8192, headerTimeoutMs: 2000, idleTimeoutMs: 700, maxHeaderCount: 50, maxClientConnections: 2000 });
    expect(parseSidecarFlags(['--max-client-connections', '50'], { SPILLWAY_MAX_CLIENT_CONNECTIONS: '2000' })?.maxClientConnections).toBe(50);
    const d = parseSidecarFlags([], {});
    expect([d?.maxHeaderBytes, d?.maxHeaderCount, d?.headerTimeoutMs, d?.idleTimeoutMs, d?.maxClientConnections]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

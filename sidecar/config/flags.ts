/**
 * `spillway sidecar` flags, each with its environment fallback (flag wins; lib/flags.ts). Pure:
 * takes argv and env, returns options or throws UsageError (the CLI exits 2 with its message).
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { flagUsage, integer, isK8sName, list, oneOf, parseFlagTable, port, url, UsageError, type FlagTable } from '../../lib/flags.js';
import { LOG_LEVELS, type LogLevel } from '../../lib/log.js';
import { ACCESS_LOG, ACCESS_LOG_MODES, SIDECAR_LIMITS, type AccessLogMode, type LimitSpec } from '../../lib/sidecar-limits.js';
import { checkRedisUrl } from '../../lib/redis-url.js';
import { defaultStateDir } from './state-dir.js';

export interface SidecarOptions {
  listen: number;
  upstream: string;
  egress: number;
  admin: number;
  host: string;
  /** The local address /config and /state answer on (0.0.0.0 or ::: every address). */
  adminInternalsAddress: string;
  podName: string;
  policy: string | null;
  redis: string | null;
  /** No --redis beside --config-key is allowed (the workload's Redis Secret does not exist yet). */
  redisOptional: boolean;
  configKey: string | null;
  kafka: string[];
  stateDir: string;
  pollIntervalMs: number;
  logLevel: LogLevel;
  /** The sampled access log: off, refused requests only, or every request. */
  accessLog: AccessLogMode;
  /** Seconds without any config after which /readyz answers 200 anyway (0: never). */
  readyWithoutConfigAfterS: number;
  /** Inbound engine limits; undefined: the engine's default (sidecar/http1/server.ts DEFAULT_LIMITS). */
  maxHeaderBytes?: number;
  maxHeaderCount?: number;
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  bodyTimeoutMs?: number;
  maxClientConnections?: number;
}

const FLAGS = {
  listen: { env: 'SPILLWAY_LISTEN', def: '17001', help: 'inbound port (HTTP/1.1, keep-alive, WebSocket)' },
  upstream: { env: 'SPILLWAY_UPSTREAM', def: 'http://127.0.0.1:8080', help: 'the app container' },
  egress: { env: 'SPILLWAY_EGRESS', def: '17002', help: 'outbound vendor routes port' },
  admin: { env: 'SPILLWAY_ADMIN', def: '17090', help: 'admin and metrics port' },
  host: { env: 'SPILLWAY_HOST', def: '0.0.0.0', help: 'address the inbound and admin ports bind to' },
  'admin-internals-address': {
    env: 'SPILLWAY_ADMIN_INTERNALS_ADDRESS',
    def: '127.0.0.1',
    help: 'the admin /config and /state answer only connections made to this address (127.0.0.1 also admits ::1; 0.0.0.0: every address)',
  },
  'pod-name': { env: 'POD_NAME', def: 'the hostname', help: "this pod's name (its share of Cluster-scope budgets)" },
  policy: { env: 'SPILLWAY_POLICY', def: '', help: 'TrafficPolicy YAML file: standalone mode, hot-reloaded' },
  redis: { env: 'SPILLWAY_REDIS', def: '', help: 'Redis URL for remote config (redis://, redis+sentinel://…/<master>, redis+cluster://…; rediss… for TLS)' },
  'redis-optional': {
    env: 'SPILLWAY_REDIS_OPTIONAL',
    def: '',
    help: "with --config-key: no --redis is not an error but a workload without a TrafficPolicy (its Redis Secret does not exist yet): no remote config, a warning; set by the webhook with per-workload Redis users",
    boolean: true,
  },
  'config-key': { env: 'SPILLWAY_CONFIG_KEY', def: '', help: '<namespace>/<target>: which config to read from Redis' },
  kafka: { env: 'SPILLWAY_KAFKA', def: '', help: 'Kafka brokers for deferral (host:port,...)' },
  'state-dir': { env: 'SPILLWAY_STATE_DIR', def: defaultStateDir(), help: 'where the last good remote config is persisted' },
  'poll-interval-ms': { env: 'SPILLWAY_POLL_INTERVAL_MS', def: '10000', help: 'slow poll of the Redis key (a missed message heals)' },
  'log-level': { env: 'SPILLWAY_LOG_LEVEL', def: 'info', help: LOG_LEVELS.join(' | ') },
  'max-header-bytes': limitFlag(SIDECAR_LIMITS.maxHeaderBytes, 'longest request head on the inbound and egress listeners (request line and fields); beyond: 431'),
  'max-header-count': limitFlag(SIDECAR_LIMITS.maxHeaderCount, 'most field lines in a request head (inbound and egress); beyond: 431'),
  'header-timeout-ms': limitFlag(SIDECAR_LIMITS.headerTimeoutMs, "time from a request head's first byte to its end; beyond: 408 and close"),
  'idle-timeout-ms': limitFlag(SIDECAR_LIMITS.idleTimeoutMs, 'a keep-alive connection (inbound or egress) with no request in progress is closed after this'),
  'body-timeout-ms': limitFlag(SIDECAR_LIMITS.bodyTimeoutMs, 'time from the end of a request head to the end of its body; beyond: the connection is cut'),
  'max-client-connections': limitFlag(
    SIDECAR_LIMITS.maxClientConnections,
    'open client connections per listener (inbound, egress; WebSocket sessions included) at most; beyond: closed on accept and counted',
  ),
  'access-log': { env: ACCESS_LOG.env, def: ACCESS_LOG.def, help: `${ACCESS_LOG_MODES.join(' | ')}: sampled log of refused (or all) requests` },
  'ready-without-config-after': {
    env: 'SPILLWAY_READY_WITHOUT_CONFIG_AFTER',
    def: '0',
    help: 'seconds without any config after which /readyz is 200 anyway, passing traffic unlimited (0: never)',
  },
} satisfies FlagTable;

export const SIDECAR_USAGE = `Usage: spillway sidecar [flags]

The load-shedding proxy in front of one pod. Config from --policy (a file) and/or
--redis with --config-key (the operator's compiled config; wins when its key exists).

Flags (environment fallback; flag wins):
${flagUsage(FLAGS)}
  --help, -h
`;

const BROKER = /^[^\s:,]+:\d{1,5}$/;

/** null: --help was asked for. */
export function parseSidecarFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): SidecarOptions | null {
  const flags = parseFlagTable(FLAGS, argv, env);
  if (!flags) return null;
  /** The flag's value, else its env var, else undefined; empty counts as unset. */
  const get = (name: keyof typeof FLAGS): string | undefined => flags.get(name);

  const redis = get('redis') ?? null;
  const configKey = get('config-key') ?? null;
  const redisOptional = flags.on('redis-optional');
  if (configKey !== null && redis === null && !redisOptional) throw new UsageError('--config-key needs --redis (the Redis URL to read it from)');
  if (redis !== null && configKey === null) throw new UsageError('--redis needs --config-key <namespace>/<target>');
  if (redis !== null) checkRedisUrl(redis, (m) => new UsageError(`--redis: ${m}`));
  if (configKey !== null) {
    const [ns, target, ...rest] = configKey.split('/');
    if (rest.length > 0 || !isK8sName(ns, 'label') || target === undefined || !isK8sName(target, 'subdomain')) {
      throw new UsageError(`--config-key: "${configKey}" is not <namespace>/<target> (e.g. talk/chat)`);
    }
  }

  const kafka = list(get('kafka'));
  for (const b of kafka) if (!BROKER.test(b)) throw new UsageError(`--kafka: "${b}" is not host:port`);

  const logLevel = oneOf('--log-level', get('log-level') ?? FLAGS['log-level'].def, LOG_LEVELS);

  const accessLog: AccessLogMode = oneOf('--access-log', get('access-log') ?? FLAGS['access-log'].def, ACCESS_LOG_MODES);

  return {
    listen: port('--listen', get('listen') ?? FLAGS.listen.def),
    upstream: url('--upstream', get('upstream') ?? FLAGS.upstream.def, ['http:']),
    egress: port('--egress', get('egress') ?? FLAGS.egress.def),
    admin: port('--admin', get('admin') ?? FLAGS.admin.def),
    host: get('host') ?? FLAGS.host.def,
    adminInternalsAddress: ipAddress('--admin-internals-address', get('admin-internals-address') ?? FLAGS['admin-internals-address'].def),
    podName: get('pod-name') ?? hostname(),
    policy: get('policy') ?? null,
    redis,
    redisOptional,
    configKey,
    kafka,
    stateDir: get('state-dir') ?? FLAGS['state-dir'].def,
    pollIntervalMs: integer('--poll-interval-ms', get('poll-interval-ms') ?? FLAGS['poll-interval-ms'].def, 100, 3_600_000),
    logLevel,
    accessLog,
    readyWithoutConfigAfterS: integer('--ready-without-config-after', get('ready-without-config-after') ?? FLAGS['ready-without-config-after'].def, 0, 86_400),
    maxHeaderBytes: optionalLimit(SIDECAR_LIMITS.maxHeaderBytes, get('max-header-bytes')),
    maxHeaderCount: optionalLimit(SIDECAR_LIMITS.maxHeaderCount, get('max-header-count')),
    headerTimeoutMs: optionalLimit(SIDECAR_LIMITS.headerTimeoutMs, get('header-timeout-ms')),
    idleTimeoutMs: optionalLimit(SIDECAR_LIMITS.idleTimeoutMs, get('idle-timeout-ms')),
    bodyTimeoutMs: optionalLimit(SIDECAR_LIMITS.bodyTimeoutMs, get('body-timeout-ms')),
    maxClientConnections: optionalLimit(SIDECAR_LIMITS.maxClientConnections, get('max-client-connections')),
  };
}

function limitFlag(spec: LimitSpec, help: string): { env: string; def: string; help: string } {
  return { env: spec.env, def: String(spec.def), help: `${help} (${spec.min}..${spec.max})` };
}

/** Unset stays undefined, so the engine's default applies. */
function optionalLimit(spec: LimitSpec, s: string | undefined): number | undefined {
  return s === undefined ? undefined : integer(`--${spec.flag}`, s, spec.min, spec.max);
}

function ipAddress(flag: string, value: string): string {
  if (isIP(value) === 0) throw new UsageError(`${flag}: "${value}" is not an IP address`);
  return value;
}

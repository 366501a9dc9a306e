/**
 * `spillway sidecar` flags, each with its environment fallback (flag wins). Pure: takes argv
 * and env, returns options or throws UsageError (the CLI exits 2 with its message).
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ACCESS_LOG_MODES, isAccessLogMode, type AccessLogMode } from '../admission/access-log.js';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../log.js';
import { defaultStateDir } from './state-dir.js';

export class UsageError extends Error {}

export interface SidecarOptions {
  listen: number;
  upstream: string;
  egress: number;
  admin: number;
  host: string;
  podName: string;
  policy: string | null;
  redis: string | null;
  configKey: string | null;
  kafka: string[];
  stateDir: string;
  pollIntervalMs: number;
  logLevel: LogLevel;
  /** The sampled access log: off, refused requests only, or every request. */
  accessLog: AccessLogMode;
  /** Seconds without any config after which /readyz answers 200 anyway (0: never). */
  readyWithoutConfigAfterS: number;
}

interface FlagSpec {
  env: string;
  def: string;
  help: string;
}

const FLAGS: Record<string, FlagSpec> = {
  listen: { env: 'SPILLWAY_LISTEN', def: '17001', help: 'inbound port (HTTP/1.1, keep-alive, WebSocket)' },
  upstream: { env: 'SPILLWAY_UPSTREAM', def: 'http://127.0.0.1:8080', help: 'the app container' },
  egress: { env: 'SPILLWAY_EGRESS', def: '17002', help: 'outbound vendor routes port' },
  admin: { env: 'SPILLWAY_ADMIN', def: '17090', help: 'admin and metrics port' },
  host: { env: 'SPILLWAY_HOST', def: '0.0.0.0', help: 'address the inbound and admin ports bind to' },
  'pod-name': { env: 'POD_NAME', def: 'the hostname', help: "this pod's name (its share of Cluster-scope budgets)" },
  policy: { env: 'SPILLWAY_POLICY', def: '', help: 'TrafficPolicy YAML file: standalone mode, hot-reloaded' },
  redis: { env: 'SPILLWAY_REDIS', def: '', help: 'Redis URL for remote config (redis:// or rediss://)' },
  'config-key': { env: 'SPILLWAY_CONFIG_KEY', def: '', help: '<namespace>/<target>: which config to read from Redis' },
  kafka: { env: 'SPILLWAY_KAFKA', def: '', help: 'Kafka brokers for deferral (host:port,...)' },
  'state-dir': { env: 'SPILLWAY_STATE_DIR', def: defaultStateDir(), help: 'where the last good remote config is persisted' },
  'poll-interval-ms': { env: 'SPILLWAY_POLL_INTERVAL_MS', def: '10000', help: 'slow poll of the Redis key (a missed message heals)' },
  'log-level': { env: 'SPILLWAY_LOG_LEVEL', def: 'info', help: LOG_LEVELS.join(' | ') },
  'access-log': { env: 'SPILLWAY_ACCESS_LOG', def: 'off', help: `${ACCESS_LOG_MODES.join(' | ')}: sampled log of refused (or all) requests` },
  'ready-without-config-after': {
    env: 'SPILLWAY_READY_WITHOUT_CONFIG_AFTER',
    def: '0',
    help: 'seconds without any config after which /readyz is 200 anyway, passing traffic unlimited (0: never)',
  },
};

export const SIDECAR_USAGE = `Usage: spillway sidecar [flags]

The load-shedding proxy in front of one pod. Config from --policy (a file) and/or
--redis with --config-key (the operator's compiled config; wins when its key exists).

Flags (environment fallback; flag wins):
${Object.entries(FLAGS)
  .map(([name, f]) => `  --${name.padEnd(28)} ${f.env.padEnd(36)} ${f.help}${f.def ? ` (default ${f.def})` : ''}`)
  .join('\n')}
  --help, -h
`;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;
const BROKER = /^[^\s:,]+:\d{1,5}$/;

/** null: --help was asked for. */
export function parseSidecarFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): SidecarOptions | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }]));
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return null;

  /** The flag's value, else its env var, else undefined; empty counts as unset. */
  const get = (name: keyof typeof FLAGS): string | undefined => {
    const v = values[name];
    if (typeof v === 'string' && v !== '') return v;
    const e = env[FLAGS[name].env];
    return e !== undefined && e !== '' ? e : undefined;
  };

  const redis = get('redis') ?? null;
  const configKey = get('config-key') ?? null;
  if (configKey !== null && redis === null) throw new UsageError('--config-key needs --redis (the Redis URL to read it from)');
  if (redis !== null && configKey === null) throw new UsageError('--redis needs --config-key <namespace>/<target>');
  if (redis !== null) url('--redis', redis, ['redis:', 'rediss:']);
  if (configKey !== null) {
    const [ns, target, ...rest] = configKey.split('/');
    if (rest.length > 0 || !DNS_LABEL.test(ns) || target === undefined || !DNS_SUBDOMAIN.test(target)) {
      throw new UsageError(`--config-key: "${configKey}" is not <namespace>/<target> (e.g. talk/chat)`);
    }
  }

  const kafka = (get('kafka') ?? '').split(',').map((b) => b.trim()).filter((b) => b !== '');
  for (const b of kafka) if (!BROKER.test(b)) throw new UsageError(`--kafka: "${b}" is not host:port`);

  const logLevel = get('log-level') ?? 'info';
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  const accessLog = get('access-log') ?? FLAGS['access-log'].def;
  if (!isAccessLogMode(accessLog)) throw new UsageError(`--access-log: "${accessLog}" is not one of ${ACCESS_LOG_MODES.join(', ')}`);

  return {
    listen: port('--listen', get('listen') ?? FLAGS.listen.def),
    upstream: url('--upstream', get('upstream') ?? FLAGS.upstream.def, ['http:']),
    egress: port('--egress', get('egress') ?? FLAGS.egress.def),
    admin: port('--admin', get('admin') ?? FLAGS.admin.def),
    host: get('host') ?? FLAGS.host.def,
    podName: get('pod-name') ?? hostname(),
    policy: get('policy') ?? null,
    redis,
    configKey,
    kafka,
    stateDir: get('state-dir') ?? FLAGS['state-dir'].def,
    pollIntervalMs: integer('--poll-interval-ms', get('poll-interval-ms') ?? FLAGS['poll-interval-ms'].def, 100, 3_600_000),
    logLevel,
    accessLog,
    readyWithoutConfigAfterS: integer('--ready-without-config-after', get('ready-without-config-after') ?? FLAGS['ready-without-config-after'].def, 0, 86_400),
  };
}

function integer(flag: string, s: string, min: number, max: number): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag}: "${s}" is not an integer in ${min}..${max}`);
  return n;
}

function port(flag: string, s: string): number {
  return integer(flag, s, 0, 65535);
}

function url(flag: string, s: string, protocols: string[]): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new UsageError(`${flag}: "${s}" is not a URL`);
  }
  if (!protocols.includes(u.protocol) || u.hostname === '') {
    throw new UsageError(`${flag}: "${s}" must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL with a host`);
  }
  return s;
}

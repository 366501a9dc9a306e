/**
 * `spillway operator` flags, each with its environment fallback (flag wins; lib/flags.ts). Pure
 * but for the in-cluster namespace file: takes argv and env, returns the flags or throws
 * UsageError (the CLI exits 2 with its message).
 */
import { readFileSync } from 'node:fs';
import { duration, flagUsage, integer, k8sName, list, oneOf, parseFlagTable, port, UsageError, type FlagTable, type FlagValues } from '../lib/flags.js';
import { LOG_LEVELS, type LogLevel } from '../lib/log.js';
import { checkRedisUrl } from '../lib/redis-url.js';

const FLAGS = {
  kubeconfig: { env: 'KUBECONFIG', def: 'in-cluster', help: 'API server credentials' },
  redis: { env: 'SPILLWAY_REDIS', def: '', help: 'Redis URL the sidecars read their config from (required): redis://, redis+sentinel://…/<master>, redis+cluster://…; rediss… for TLS' },
  namespace: { env: 'SPILLWAY_NAMESPACE', def: 'all', help: 'namespace to watch; repeatable or comma-separated', multiple: true },
  'leader-elect': { env: 'SPILLWAY_LEADER_ELECT', def: '', help: 'take part in Lease-based leader election', boolean: true },
  'lease-name': { env: 'SPILLWAY_LEASE_NAME', def: 'spillway-operator', help: 'the Lease object' },
  'lease-namespace': { env: 'SPILLWAY_LEASE_NAMESPACE', def: "the pod's namespace (POD_NAMESPACE), else default", help: "the Lease's namespace" },
  'lease-duration': { env: 'SPILLWAY_LEASE_DURATION', def: '15s', help: 'how long a lease is valid' },
  'renew-deadline': { env: 'SPILLWAY_RENEW_DEADLINE', def: '10s', help: 'a leader that cannot renew for this long stops leading' },
  'retry-period': { env: 'SPILLWAY_RETRY_PERIOD', def: '2s', help: 'how often to renew or try to acquire' },
  admin: { env: 'SPILLWAY_ADMIN', def: '17091', help: '/healthz, /readyz, /metrics port' },
  workers: { env: 'SPILLWAY_WORKERS', def: '4', help: 'concurrent reconciles (1..64)' },
  'vendor-health-interval': {
    env: 'SPILLWAY_VENDOR_HEALTH_INTERVAL',
    def: '5s',
    help: "how often the leader aggregates the sidecars' vendor reports and chooses each route's vendor (0: off)",
  },
  'workload-redis-url': {
    env: 'SPILLWAY_WORKLOAD_REDIS_URL',
    def: '',
    help: "per-workload Redis ACL users: each protected workload's sidecars get this URL (no credentials) with their own user in a Secret spillway-redis-<target> in its namespace (needs Redis 7 and ACL SETUSER rights; empty: off)",
  },
  'log-level': { env: 'SPILLWAY_LOG_LEVEL', def: 'info', help: LOG_LEVELS.join(' | ') },
} satisfies FlagTable;

/** Served by every replica; on when a certificate source is given. */
const WEBHOOK_FLAGS = {
  'webhook-port': { env: 'SPILLWAY_WEBHOOK_PORT', def: '9443', help: 'HTTPS port of /mutate and /healthz (0: off)' },
  'webhook-cert-dir': { env: 'SPILLWAY_WEBHOOK_CERT_DIR', def: '', help: "serve tls.crt/tls.key from here, reloaded on change (cert-manager's Secret)" },
  'webhook-self-signed': {
    env: 'SPILLWAY_WEBHOOK_SELF_SIGNED',
    def: '',
    help: "else a self-signed CA and certificate shared through a Secret, the CA patched into the webhook's caBundle (also on with SPILLWAY_WEBHOOK_CERT_MANAGER=false)",
    boolean: true,
  },
  'webhook-service': { env: 'SPILLWAY_WEBHOOK_SERVICE', def: '', help: "the webhook's Service (certificate names)" },
  'webhook-namespace': { env: 'SPILLWAY_WEBHOOK_NAMESPACE', def: "the pod's namespace (POD_NAMESPACE)", help: "the Service's and Secret's namespace" },
  'webhook-config-name': { env: 'SPILLWAY_WEBHOOK_CONFIGURATION', def: '', help: 'the MutatingWebhookConfiguration to patch' },
  'webhook-tls-secret': { env: 'SPILLWAY_WEBHOOK_TLS_SECRET', def: '<service>-tls', help: 'the shared Secret' },
  'injection-config': { env: 'SPILLWAY_INJECTION_CONFIG', def: '', help: "sidecar defaults as JSON (the chart's ConfigMap)" },
} satisfies FlagTable;

const ALL_FLAGS = { ...FLAGS, ...WEBHOOK_FLAGS };
type FlagName = keyof typeof ALL_FLAGS;

export const OPERATOR_USAGE = `Usage: spillway operator [flags]

Reconciles TrafficPolicies into compiled configs in Redis and writes their status.

Flags (environment fallback; flag wins):
${flagUsage(FLAGS)}
  --help, -h

Sidecar injection webhook (served by every replica; on when a certificate source is given):
${flagUsage(WEBHOOK_FLAGS)}

Durations: a number of seconds or a value with ms/s/m (e.g. 500ms, 2s).
`;

export interface OperatorFlags {
  kubeconfig: string | undefined;
  redis: string;
  namespaces: string[];
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  admin: number;
  workers: number;
  /** 0: no cluster-wide vendor view. */
  vendorHealthIntervalMs: number;
  logLevel: LogLevel;
  /** Per-workload ACL users on: the URL (no credentials) their Secrets give sidecars; null: off. */
  workloadRedisUrl: string | null;
  /** Null: no webhook (port 0, or no certificate source). */
  webhook: WebhookFlags | null;
}

export interface WebhookFlags {
  port: number;
  certDir: string | undefined;
  /** Set with --webhook-self-signed. */
  selfSigned: { service: string; namespace: string; configName: string; secretName: string } | undefined;
  injectionConfig: string;
}

/** null: --help was asked for. */
export function parseOperatorFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorFlags | null {
  const flags = parseFlagTable(ALL_FLAGS, argv, env);
  if (!flags) return null;
  const get = (name: FlagName): string => flags.get(name) ?? ALL_FLAGS[name].def;

  const redis = flags.get('redis') ?? '';
  if (!redis) throw new UsageError('--redis (or SPILLWAY_REDIS) is required: the Redis URL the sidecars read their config from');
  checkRedisUrl(redis, (m) => new UsageError(`--redis: ${m}`));
  const podNamespace = env.POD_NAMESPACE || inClusterNamespace();
  const parsed: OperatorFlags = {
    kubeconfig: flags.get('kubeconfig'),
    redis,
    namespaces: list(flags.get('namespace')).map((ns) => k8sName('--namespace', ns, 'label')),
    leaderElect: flags.on('leader-elect'),
    leaseName: k8sName('--lease-name', get('lease-name'), 'subdomain'),
    leaseNamespace: k8sName('--lease-namespace', flags.get('lease-namespace') ?? podNamespace ?? 'default', 'label'),
    leaseDurationMs: duration('--lease-duration', get('lease-duration')),
    renewDeadlineMs: duration('--renew-deadline', get('renew-deadline')),
    retryPeriodMs: duration('--retry-period', get('retry-period')),
    admin: port('--admin', get('admin')),
    workers: integer('--workers', get('workers'), 1, 64),
    vendorHealthIntervalMs: duration('--vendor-health-interval', get('vendor-health-interval'), { allowZero: true }),
    logLevel: oneOf('--log-level', get('log-level'), LOG_LEVELS),
    workloadRedisUrl: workloadRedisUrl(flags.get('workload-redis-url')),
    webhook: parseWebhookFlags(flags, env, podNamespace),
  };
  if (!(parsed.leaseDurationMs > parsed.renewDeadlineMs && parsed.renewDeadlineMs > parsed.retryPeriodMs)) {
    throw new UsageError('leader election needs --lease-duration > --renew-deadline > --retry-period');
  }
  return parsed;
}

function workloadRedisUrl(url: string | undefined): string | null {
  if (!url) return null;
  const t = checkRedisUrl(url, (m) => new UsageError(`--workload-redis-url: ${m}`));
  if (t.username !== undefined || t.password !== undefined) {
    throw new UsageError('--workload-redis-url: no credentials here: each workload gets its own user and password');
  }
  if (t.mode === 'sentinel') throw new UsageError('--workload-redis-url: not with Sentinel (the Sentinels would need every workload user too); use one node or a Cluster');
  return url;
}

function parseWebhookFlags(flags: FlagValues<FlagName>, env: NodeJS.ProcessEnv, podNamespace: string | undefined): WebhookFlags | null {
  const webhookPort = port('--webhook-port', flags.get('webhook-port') ?? WEBHOOK_FLAGS['webhook-port'].def);
  const certDir = flags.get('webhook-cert-dir');
  // The chart says "cert-manager off" rather than "self-signed on".
  const selfSigned = flags.on('webhook-self-signed') || env.SPILLWAY_WEBHOOK_CERT_MANAGER === 'false';
  if (webhookPort === 0 || (!certDir && !selfSigned)) return null;
  const injectionConfig = flags.get('injection-config');
  if (!injectionConfig) throw new UsageError('the webhook needs --injection-config (or SPILLWAY_INJECTION_CONFIG): the sidecar defaults');
  if (!selfSigned) return { port: webhookPort, certDir, selfSigned: undefined, injectionConfig };
  const service = flags.get('webhook-service');
  const configName = flags.get('webhook-config-name');
  const namespace = flags.get('webhook-namespace') ?? podNamespace;
  if (!service || !configName || !namespace) {
    throw new UsageError('--webhook-self-signed needs --webhook-service, --webhook-config-name and --webhook-namespace (or their env)');
  }
  return {
    port: webhookPort,
    certDir,
    selfSigned: {
      service: k8sName('--webhook-service', service, 'label'),
      namespace: k8sName('--webhook-namespace', namespace, 'label'),
      configName: k8sName('--webhook-config-name', configName, 'subdomain'),
      secretName: k8sName('--webhook-tls-secret', flags.get('webhook-tls-secret') ?? `${service}-tls`, 'subdomain'),
    },
    injectionConfig,
  };
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

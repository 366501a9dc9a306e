/**
 * `spillway operator`: the TrafficPolicy controller. Flags (or env) → Kubernetes client,
 * Redis publisher, informers and work queue, optional leader election, admin server;
 * SIGTERM stops it gracefully (the lease is handed back so a standby takes over at once).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startAdmin } from './admin.js';
import { Controller } from './controller.js';
import { ClientKubeApi, loadKubeConfig } from './kube.js';
import { LeaderElector, defaultIdentity } from './leader.js';
import { OperatorMetrics } from './metrics.js';
import { RedisPublisher } from './publisher.js';
import { parseInjectionSettings, type InjectionSettings } from './webhook.js';
import { serveWebhook } from './webhook-server.js';

export const USAGE = `Usage: spillway operator [flags]

Reconciles TrafficPolicies into compiled configs in Redis and writes their status.

Flags (environment variable in brackets):
  --kubeconfig <file>        API server credentials [KUBECONFIG]; default: in-cluster
  --redis <url>              Redis URL for remote config, required [SPILLWAY_REDIS]
  --namespace <ns>           namespace to watch; repeatable or comma-separated [SPILLWAY_NAMESPACE]; default: all
  --leader-elect             take part in Lease-based leader election [SPILLWAY_LEADER_ELECT=true]
  --lease-name <name>        the Lease object (default spillway-operator)
  --lease-namespace <ns>     its namespace (default: the pod's namespace [POD_NAMESPACE], else default)
  --lease-duration <d>       how long a lease is valid (default 15s)
  --renew-deadline <d>       a leader that cannot renew for this long stops leading (default 10s)
  --retry-period <d>         how often to renew or try to acquire (default 2s)
  --admin <port>             /healthz, /readyz, /metrics (default 17091) [SPILLWAY_ADMIN]
  --workers <n>              concurrent reconciles (default 4)
  --vendor-health-interval <d>  how often the leader aggregates the sidecars' vendor reports
                             and chooses each route's vendor for the workload (default 5s; 0: off)

Sidecar injection webhook (served by every replica; on when a certificate source is given):
  --webhook-port <port>      HTTPS port of /mutate and /healthz (default 9443; 0: off) [SPILLWAY_WEBHOOK_PORT]
  --webhook-cert-dir <dir>   serve tls.crt/tls.key from here, reloaded when they change
                             (cert-manager's Secret mounted) [SPILLWAY_WEBHOOK_CERT_DIR]
  --webhook-self-signed      without those files: a self-signed CA and serving certificate shared
                             through a Secret, the CA patched into the webhook's caBundle
                             [SPILLWAY_WEBHOOK_SELF_SIGNED=true, or SPILLWAY_WEBHOOK_CERT_MANAGER=false]
  --webhook-service <name>   the webhook's Service (certificate names) [SPILLWAY_WEBHOOK_SERVICE]
  --webhook-namespace <ns>   its namespace (default: the pod's namespace [POD_NAMESPACE])
  --webhook-config-name <n>  the MutatingWebhookConfiguration to patch [SPILLWAY_WEBHOOK_CONFIGURATION]
  --webhook-tls-secret <n>   the shared Secret (default <service>-tls) [SPILLWAY_WEBHOOK_TLS_SECRET]
  --injection-config <file>  sidecar defaults as JSON (the chart's ConfigMap) [SPILLWAY_INJECTION_CONFIG]
  -h, --help                 this help

Durations: a number of seconds or a value with ms/s/m (e.g. 500ms, 2s).
`;

export class FlagError extends Error {}

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
  /** Null: no webhook (port 0, or no certificate source). */
  webhook: WebhookFlags | null;
  help: boolean;
}

export interface WebhookFlags {
  port: number;
  certDir: string | undefined;
  /** Set with --webhook-self-signed. */
  selfSigned: { service: string; namespace: string; configName: string; secretName: string } | undefined;
  injectionConfig: string;
}

export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new FlagError(`--${flag}: "${v}" is not a duration (e.g. 500ms, 2s, 1m)`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms <= 0) throw new FlagError(`--${flag}: must be positive`);
  return ms;
}

function parseInteger(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new FlagError(`--${flag}: "${v}" must be an integer from ${min} to ${max}`);
  return n;
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        redis: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'leader-elect': { type: 'boolean' },
        'lease-name': { type: 'string' },
        'lease-namespace': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        admin: { type: 'string' },
        workers: { type: 'string' },
        'vendor-health-interval': { type: 'string' },
        'webhook-port': { type: 'string' },
        'webhook-cert-dir': { type: 'string' },
        'webhook-self-signed': { type: 'boolean' },
        'webhook-service': { type: 'string' },
        'webhook-namespace': { type: 'string' },
        'webhook-config-name': { type: 'string' },
        'webhook-tls-secret': { type: 'string' },
        'injection-config': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new FlagError(err instanceof Error ? err.message : String(err));
  }
  const help = values.help ?? false;
  const redis = values.redis ?? env.SPILLWAY_REDIS ?? '';
  if (!help && !redis) throw new FlagError('--redis (or SPILLWAY_REDIS) is required: the Redis URL the sidecars read their config from');
  if (redis && !/^rediss?:\/\//.test(redis)) throw new FlagError(`--redis: "${redis}" is not a redis:// or rediss:// URL`);
  const namespaces = (values.namespace ?? (env.SPILLWAY_NAMESPACE ? [env.SPILLWAY_NAMESPACE] : []))
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  const flags: OperatorFlags = {
    kubeconfig: values.kubeconfig ?? (env.KUBECONFIG || undefined),
    redis,
    namespaces: [...new Set(namespaces)],
    leaderElect: values['leader-elect'] ?? env.SPILLWAY_LEADER_ELECT === 'true',
    leaseName: values['lease-name'] ?? 'spillway-operator',
    leaseNamespace: values['lease-namespace'] ?? env.POD_NAMESPACE ?? inClusterNamespace() ?? 'default',
    leaseDurationMs: parseDuration('lease-duration', values['lease-duration'] ?? '15s'),
    renewDeadlineMs: parseDuration('renew-deadline', values['renew-deadline'] ?? '10s'),
    retryPeriodMs: parseDuration('retry-period', values['retry-period'] ?? '2s'),
    admin: parseInteger('admin', values.admin ?? env.SPILLWAY_ADMIN ?? '17091', 0, 65535),
    workers: parseInteger('workers', values.workers ?? '4', 1, 64),
    vendorHealthIntervalMs: /^0+(\.0+)?(ms|s|m)?$/.test(values['vendor-health-interval'] ?? '') ? 0 : parseDuration('vendor-health-interval', values['vendor-health-interval'] ?? '5s'),
    webhook: help ? null : parseWebhookFlags(values, env),
    help,
  };
  if (!(flags.leaseDurationMs > flags.renewDeadlineMs && flags.renewDeadlineMs > flags.retryPeriodMs)) {
    throw new FlagError('leader election needs --lease-duration > --renew-deadline > --retry-period');
  }
  return flags;
}

function parseWebhookFlags(values: Record<string, string | boolean | string[] | undefined>, env: NodeJS.ProcessEnv): WebhookFlags | null {
  const str = (flag: string, envName: string): string | undefined => {
    const v = values[flag];
    return typeof v === 'string' && v !== '' ? v : env[envName] || undefined;
  };
  const port = parseInteger('webhook-port', str('webhook-port', 'SPILLWAY_WEBHOOK_PORT') ?? '9443', 0, 65535);
  const certDir = str('webhook-cert-dir', 'SPILLWAY_WEBHOOK_CERT_DIR');
  const selfSigned = values['webhook-self-signed'] === true || env.SPILLWAY_WEBHOOK_SELF_SIGNED === 'true' || env.SPILLWAY_WEBHOOK_CERT_MANAGER === 'false';
  if (port === 0 || (!certDir && !selfSigned)) return null;
  const injectionConfig = str('injection-config', 'SPILLWAY_INJECTION_CONFIG');
  if (!injectionConfig) throw new FlagError('the webhook needs --injection-config (or SPILLWAY_INJECTION_CONFIG): the sidecar defaults');
  if (!selfSigned) return { port, certDir, selfSigned: undefined, injectionConfig };
  const service = str('webhook-service', 'SPILLWAY_WEBHOOK_SERVICE');
  const configName = str('webhook-config-name', 'SPILLWAY_WEBHOOK_CONFIGURATION');
  const namespace = str('webhook-namespace', 'POD_NAMESPACE') ?? inClusterNamespace();
  if (!service || !configName || !namespace) {
    throw new FlagError('--webhook-self-signed needs --webhook-service, --webhook-config-name and --webhook-namespace (or their env)');
  }
  const secretName = str('webhook-tls-secret', 'SPILLWAY_WEBHOOK_TLS_SECRET') ?? `${service}-tls`;
  return { port, certDir, selfSigned: { service, namespace, configName, secretName }, injectionConfig };
}

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} operator: ${msg}\n`);
}

export async function main(argv: string[]): Promise<void> {
  let flags: OperatorFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`spillway operator: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }

  const identity = defaultIdentity();
  const kube = new ClientKubeApi(loadKubeConfig(flags.kubeconfig), identity);
  const metrics = new OperatorMetrics(true);
  let stopping = false;
  const publisher = new RedisPublisher(flags.redis, {
    log,
    // Back from an outage: catch up at once rather than at each key's next backoff.
    onReady: () => {
      if (!elector || elector.isLeader()) controller.enqueueAll();
    },
  });
  const elector = flags.leaderElect
    ? new LeaderElector(kube, {
        namespace: flags.leaseNamespace,
        name: flags.leaseName,
        identity,
        leaseDurationMs: flags.leaseDurationMs,
        renewDeadlineMs: flags.renewDeadlineMs,
        retryPeriodMs: flags.retryPeriodMs,
        log,
        onStartedLeading: () => {
          metrics.isLeader.set(1);
          controller.startWorkers();
        },
        onStoppedLeading: () => {
          metrics.isLeader.set(0);
          // As controller-runtime: a leader that lost its lease exits (and is restarted as a
          // candidate) rather than risk writing next to the new leader.
          if (!stopping) void shutdown(1, 'lost the leader lease');
        },
      })
    : undefined;
  // Declared after the callbacks that use it: they only run once startup is done.
  const controller: Controller = new Controller({
    kube,
    publisher,
    metrics,
    namespaces: flags.namespaces,
    workers: flags.workers,
    vendorHealthIntervalMs: flags.vendorHealthIntervalMs,
    canWrite: elector ? () => elector.isLeader() : undefined,
    log,
  });
  const admin = await startAdmin({
    port: flags.admin,
    registry: metrics.registry,
    ready: () => controller.hasSynced() || (elector !== undefined && !elector.isLeader()),
  });

  const webhook = flags.webhook ? startWebhook(flags.webhook, kube) : undefined;

  async function shutdown(code: number, why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    await webhook?.close();
    await elector?.stop();
    await controller.stop();
    await publisher.close();
    await admin.close();
    process.exit(code);
  }
  process.once('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.once('SIGINT', () => void shutdown(0, 'SIGINT'));

  log(
    `started as ${identity}: namespaces ${flags.namespaces.join(',') || 'all'}, admin :${admin.port}, ` +
      (elector ? `leader election on Lease ${flags.leaseNamespace}/${flags.leaseName}` : 'no leader election'),
  );
  controller.startInformers();
  if (elector) elector.start();
  else {
    metrics.isLeader.set(1);
    controller.startWorkers();
  }
}

/** Every replica serves the webhook, leader or not; a broken injection config leaves it off. */
function startWebhook(w: WebhookFlags, kube: ClientKubeApi): { close(): Promise<void> } | undefined {
  let settings: InjectionSettings;
  try {
    settings = parseInjectionSettings(JSON.parse(readFileSync(w.injectionConfig, 'utf8')));
  } catch (err) {
    log(`webhook: not serving: ${w.injectionConfig}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  return serveWebhook({
    port: w.port,
    settings,
    certDir: w.certDir,
    selfSigned: w.selfSigned && { ...w.selfSigned, log },
    kube,
    log,
  });
}

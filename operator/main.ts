/**
 * `spillway operator`: the TrafficPolicy controller. Flags (or env) → Kubernetes client,
 * Redis publisher, informers and work queue, optional leader election, admin server;
 * SIGTERM stops it gracefully (the lease is handed back so a standby takes over at once).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../lib/flags.js';
import { createLogger, type Logger } from '../lib/log.js';
import { startAdmin } from './admin.js';
import { Controller } from './controller.js';
import { OPERATOR_USAGE, parseOperatorFlags, type OperatorFlags, type WebhookFlags } from './flags.js';
import { ClientKubeApi, loadKubeConfig } from './kube.js';
import { LeaderElector, defaultIdentity } from './leader.js';
import { OperatorMetrics } from './metrics.js';
import { RedisPublisher } from './publisher.js';
import { parseInjectionSettings, type InjectionSettings } from './webhook.js';
import { serveWebhook } from './webhook-server.js';
import { WorkloadUsers } from './workload-users.js';

export async function main(argv: string[]): Promise<void> {
  let flags: OperatorFlags | null;
  try {
    flags = parseOperatorFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`spillway operator: ${err.message}\n\n${OPERATOR_USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (!flags) {
    process.stdout.write(OPERATOR_USAGE);
    return;
  }
  const log = createLogger({ level: flags.logLevel, fields: { component: 'operator' } });

  const identity = defaultIdentity();
  const kube = new ClientKubeApi(loadKubeConfig(flags.kubeconfig), identity);
  const metrics = new OperatorMetrics(true);
  let stopping = false;
  const publisher = new RedisPublisher(flags.redis, {
    log: log.child({ component: 'redis' }),
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
        log: log.child({ component: 'leader' }),
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
    workloadUsers: flags.workloadRedisUrl ? new WorkloadUsers(kube, publisher, flags.workloadRedisUrl) : undefined,
  });
  const admin = await startAdmin({
    port: flags.admin,
    registry: metrics.registry,
    ready: () => controller.hasSynced() || (elector !== undefined && !elector.isLeader()),
  });

  const webhook = flags.webhook ? startWebhook(flags.webhook, kube, log.child({ component: 'webhook' })) : undefined;

  async function shutdown(code: number, why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { reason: why });
    await webhook?.close();
    await elector?.stop();
    await controller.stop();
    await publisher.close();
    await admin.close();
    process.exit(code);
  }
  process.once('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.once('SIGINT', () => void shutdown(0, 'SIGINT'));

  log.info('operator started', {
    identity,
    namespaces: flags.namespaces.length > 0 ? flags.namespaces : 'all',
    admin: admin.port,
    leaderElection: elector ? `${flags.leaseNamespace}/${flags.leaseName}` : false,
  });
  controller.startInformers();
  if (elector) elector.start();
  else {
    metrics.isLeader.set(1);
    controller.startWorkers();
  }
}

/** Every replica serves the webhook, leader or not; a broken injection config leaves it off. */
function startWebhook(w: WebhookFlags, kube: ClientKubeApi, log: Logger): { close(): Promise<void> } | undefined {
  let settings: InjectionSettings;
  try {
    settings = parseInjectionSettings(JSON.parse(readFileSync(w.injectionConfig, 'utf8')));
  } catch (err) {
    log.error('not serving: the injection config is unusable', { file: w.injectionConfig, err });
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

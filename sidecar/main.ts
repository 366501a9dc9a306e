/**
 * `spillway sidecar`: wires the parts together. The inbound data plane and the egress enforce;
 * the config store decides what they enforce (Redis > --policy file > nothing); with --kafka,
 * shed sends on deferring routes go to Kafka and are replayed by the drainer; the admin port
 * reports.
 */
import { access, constants } from 'node:fs/promises';
import type { CompiledConfig } from '../api/config.js';
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { AccessLog } from './admission/access-log.js';
import { startAdmin, type AdminServer } from './admin.js';
import { FileSource } from './config/file-source.js';
import { UsageError } from '../lib/flags.js';
import { parseSidecarFlags, SIDECAR_USAGE, type SidecarOptions } from './config/flags.js';
import { RedisSource } from './config/redis-source.js';
import { StateDir } from './config/state-dir.js';
import { ConfigStore, type ConfigTarget } from './config/store.js';
import { createKafkaDeferrer, type KafkaDeferrer } from './egress/defer.js';
import { drainerGroupId } from './egress/defer-record.js';
import { Egress } from './egress/index.js';
import { registerConnectionMetrics } from './connection-metrics.js';
import { Inbound } from './inbound.js';
import type { ServerLimits } from './http1/server.js';
import { createLogger, type Logger } from '../lib/log.js';
import { redactRedisUrl } from '../lib/redis-url.js';

/** Backstop after SIGTERM: Inbound.close() itself gives in-flight requests 10 s, then cuts them. */
const DRAIN_TIMEOUT_MS = 12_000;
/** After the drain: the deferrer flushes its last produce batch and leaves the consumer group. */
const KAFKA_CLOSE_TIMEOUT_MS = 10_000;

export async function main(argv: string[]): Promise<void> {
  let options: SidecarOptions | null;
  try {
    options = parseSidecarFlags(argv);
    if (options?.policy) await readable(options.policy);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`spillway sidecar: ${err.message}\n\n${SIDECAR_USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (!options) {
    process.stdout.write(SIDECAR_USAGE);
    return;
  }
  const log = createLogger({ level: options.logLevel, fields: { component: 'sidecar' } });
  const sidecar = await startSidecar(options, log);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn('second signal: exiting without waiting for in-flight requests', { signal });
      process.exit(1);
    }
    stopping = true;
    sidecar.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function readable(path: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch (err) {
    throw new UsageError(`--policy: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export interface Sidecar {
  store: ConfigStore;
  admin: AdminServer;
  /** Readiness fails, new connections are refused, in-flight work finishes (bounded), sources close. */
  shutdown(reason: string): Promise<void>;
}

export async function startSidecar(options: SidecarOptions, log: Logger): Promise<Sidecar> {
  const startedAt = Date.now();
  const registry = new Registry();
  registerProcessMetrics(registry, 'sidecar');

  const accessLog = options.accessLog === 'off' ? null : new AccessLog({ mode: options.accessLog, logger: log.child({ component: 'access' }) });
  accessLog?.start();
  const inbound = await Inbound.start({
    port: options.listen,
    host: options.host,
    upstream: options.upstream,
    podName: options.podName,
    registry,
    limits: engineLimits(options),
    accessLog: accessLog ?? undefined,
  });
  const deferrer = options.kafka.length > 0 ? startDeferrer(options, registry, log) : null;
  // Loopback only, whatever --host says: the app reaches it in the pod's network namespace, and
  // on any other address it would be an open relay to the vendors.
  const egress = await Egress.start({
    port: options.egress,
    host: '127.0.0.1',
    registry,
    podName: options.podName,
    redisUrl: options.redis ?? undefined,
    configKey: options.configKey ?? undefined,
    deferrer: deferrer ?? undefined,
    loadLevel: () => inbound.loadLevel(),
    accessLog: accessLog ?? undefined,
    limits: engineLimits(options),
  });
  registerConnectionMetrics(registry, { inbound: inbound.connections, egress: egress.connections });
  // Everything that enforces a config; the deferrer last, so it only hears of a config that
  // the others took (the store rolls a refused config back on the targets before it).
  const targets: ConfigTarget[] = [inbound, egress];
  if (deferrer) targets.push(deferRoutesTarget(deferrer));

  const stateDir = options.configKey !== null ? new StateDir(options.stateDir, options.configKey, log.child({ component: 'state-dir' })) : null;
  const store = new ConfigStore({
    targets,
    registry,
    log: log.child({ component: 'config' }),
    configKey: options.configKey ?? undefined,
    persistence: stateDir ?? undefined,
  });

  let draining = false;
  const admin = await startAdmin(
    {
      registry,
      config: () => store.view(),
      dataPlane: inbound,
      draining: () => draining,
      readyWithoutConfig: { afterS: options.readyWithoutConfigAfterS, startedAt },
      internalsAddress: options.adminInternalsAddress,
    },
    options.admin,
    options.host,
  );

  const fileSource = options.policy !== null ? new FileSource({ path: options.policy, store, log: log.child({ component: 'policy-file' }) }) : null;
  await fileSource?.start();

  let redisSource: RedisSource | null = null;
  if (options.redis !== null && options.configKey !== null && stateDir) {
    // Before Redis answers: the last good config for this key, so an outage at start still enforces it.
    const persisted = await stateDir.load();
    if (persisted !== null) store.offerRemote(persisted.config, 'state-dir');
    redisSource = new RedisSource({
      persistedRunId: persisted?.redisRunId,
      url: options.redis,
      configKey: options.configKey,
      store,
      registry,
      log: log.child({ component: 'redis' }),
      pollIntervalMs: options.pollIntervalMs,
    });
    redisSource.start();
  }

  const inForce = store.effective();
  log.info('sidecar started', {
    listen: inbound.port,
    admin: admin.port,
    egress: egress.port,
    kafka: options.kafka,
    host: options.host,
    upstream: options.upstream,
    podName: options.podName,
    policy: options.policy,
    redis: options.redis !== null ? redactRedisUrl(options.redis) : null,
    configKey: options.configKey,
    stateDir: stateDir?.dir ?? null,
    configSource: inForce?.source ?? null,
    configVersion: inForce?.config.version ?? null,
  });
  if (options.redis === null && options.redisOptional && options.configKey !== null) {
    // Per-workload Redis users: the operator makes the Secret once a TrafficPolicy names this
    // workload; this pod started before that and must be restarted to read it.
    log.warn('no Redis URL (the workload has no TrafficPolicy, so no Redis Secret, yet): no remote config until this pod restarts', {
      configKey: options.configKey,
    });
  }
  if (options.policy === null && options.redis === null && options.readyWithoutConfigAfterS === 0) {
    log.warn('no --policy and no --redis: the sidecar will not become ready');
  }
  const unconfiguredWarning = warnIfUnconfigured(options.readyWithoutConfigAfterS, store, log);

  return {
    store,
    admin,
    async shutdown(reason: string) {
      draining = true;
      clearTimeout(unconfiguredWarning);
      log.info('shutting down: draining in-flight requests', { reason, timeoutMs: DRAIN_TIMEOUT_MS });
      redisSource?.close();
      fileSource?.close();
      const closing = Promise.all([
        inbound.close().catch((err: unknown) => log.warn('inbound close failed', { err })),
        egressDrained(egress),
      ]);
      const drained = await withTimeout(closing, DRAIN_TIMEOUT_MS);
      if (!drained) log.warn('drain timed out; exiting with requests still in flight', { timeoutMs: DRAIN_TIMEOUT_MS });
      // The egress before Kafka: a send it is deferring still reaches the producer, which
      // close() flushes; the drainer's replays go nowhere once the egress is closed.
      await egress.close().catch((err: unknown) => log.warn('egress close failed', { err }));
      if (deferrer && !(await withTimeout(deferrer.close(), KAFKA_CLOSE_TIMEOUT_MS))) {
        log.warn('kafka close timed out', { timeoutMs: KAFKA_CLOSE_TIMEOUT_MS });
      }
      await stateDir?.flush();
      accessLog?.stop();
      await admin.close();
      log.info('stopped');
    },
  };
}

/**
 * With --ready-without-config-after: one warning when the grace period ends with no config in
 * force, the moment /readyz starts answering 200 regardless (the SpillwaySidecarUnconfigured
 * alert keeps firing on config version 0).
 */
function warnIfUnconfigured(afterS: number, store: ConfigStore, log: Logger): NodeJS.Timeout | undefined {
  if (afterS === 0) return undefined;
  const timer = setTimeout(() => {
    if (store.view() === null) log.warn(`no config after ${afterS}s: ready anyway, passing traffic through unlimited`, { readyWithoutConfigAfter: afterS });
  }, afterS * 1000);
  timer.unref();
  return timer;
}

/**
 * The Kafka deferrer for --kafka. Its drainer's consumer group is shared by the workload's pods:
 * named after --config-key, else after the --policy path (the same in every pod).
 */
function startDeferrer(options: SidecarOptions, registry: Registry, log: Logger): KafkaDeferrer {
  return createKafkaDeferrer({
    brokers: options.kafka,
    clientId: options.podName,
    groupId: drainerGroupId(options.configKey ?? options.policy ?? options.podName),
    routes: [],
    registry,
    log: log.child({ component: 'defer' }),
  });
}

/**
 * Passes each applied config's routes to the deferrer, but only when what it uses (the routes
 * that defer and their settings) changed: a call while its consumer is still joining would
 * restart that consumer (defer.ts only knows its topics once the consumer started), and configs
 * often arrive in quick succession at start (file, persisted copy, Redis).
 */
function deferRoutesTarget(deferrer: KafkaDeferrer): ConfigTarget {
  let last = '';
  const update = (routes: CompiledConfig['routes']): void => {
    const deferring = routes.filter((r) => r.defer).map((r) => ({ name: r.name, defer: r.defer }));
    const key = JSON.stringify(deferring);
    if (key === last) return;
    last = key;
    deferrer.updateRoutes(deferring);
  };
  return { apply: (config) => update(config.routes), clear: () => update([]) };
}

/** Resolves once no send is in flight on the egress, or at the drain deadline (polled: only at shutdown). */
async function egressDrained(egress: Egress): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (Date.now() < deadline && egress.state().routes.some((r) => r.inflight > 0)) await new Promise((r) => setTimeout(r, 50));
}

/** true if `p` resolved in time. */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The engine limits the flags set (the others keep the engine's defaults). */
function engineLimits(o: SidecarOptions): Partial<ServerLimits> {
  const limits: Partial<ServerLimits> = {};
  if (o.maxHeaderBytes !== undefined) limits.maxHeadBytes = o.maxHeaderBytes;
  if (o.maxHeaderCount !== undefined) limits.maxHeaderCount = o.maxHeaderCount;
  if (o.headerTimeoutMs !== undefined) limits.headerTimeoutMs = o.headerTimeoutMs;
  if (o.idleTimeoutMs !== undefined) limits.idleTimeoutMs = o.idleTimeoutMs;
  if (o.bodyTimeoutMs !== undefined) limits.bodyTimeoutMs = o.bodyTimeoutMs;
  if (o.maxClientConnections !== undefined) limits.maxConnections = o.maxClientConnections;
  return limits;
}

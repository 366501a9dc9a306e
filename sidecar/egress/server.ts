/**
 * The egress server: `http://127.0.0.1:<port>/<route>/<path>` goes to the route's active
 * vendor. Pipeline per send, top to bottom in onRequest: route (the first path segment) → load
 * level → the route's permit (admission core), or defer, or refuse from the refusal table →
 * forward (forward.ts: dedup, body, failover) → end(outcome). Also the replay path the deferral
 * drainer sends deferred sends through (replay.ts).
 */
import type { Registry } from 'prom-client';
import type { CompiledConfig, CompiledRoute } from '../../api/config.js';
import type { AccessLog } from '../admission/access-log.js';
import { O_LOAD_LEVEL } from '../admission/outcomes.js';
import { admit, GRANTED } from '../admission/permit.js';
import type { RequestHead } from '../http1/head.js';
import { DEFAULT_LIMITS, Http1Server, type ConnectionCounts, type RequestHandler, type ServerConn, type ServerLimits } from '../http1/server.js';
import { refuse, unknownRoute } from './admission.js';
import type { EgressContext } from './context.js';
import type { DeferredSend, Deferrer, ReplayOutcome } from './contracts.js';
import { MemoryDedupStore, RedisDedupStore, type DedupStore } from './dedup.js';
import { ShedExchange } from './defer-shed.js';
import { SendExchange } from './forward.js';
import { HealthReporter } from './health-report.js';
import { vendorPath } from './http-util.js';
import { EgressMetrics } from './metrics.js';
import { connectEgressRedis, waitReady, type EgressRedis } from './redis.js';
import { replay } from './replay.js';
import { EgressRoute } from './route.js';
import type { CompiledVendor, VendorTarget } from './vendor-client.js';
import { HttpVendor } from './vendor-http.js';
import { HttpsVendor } from './vendor-https.js';

export interface EgressOptions {
  port: number;
  host?: string;
  registry: Registry;
  podName: string;
  /** Dedup claims and vendor-health reports; absent: standalone, dedup within this pod only. */
  redisUrl?: string;
  /** `<namespace>/<target>`, for the dedup and vendor-health keys; required with redisUrl. */
  configKey?: string;
  /**
   * Absent: no deferral; shed sends are refused. Given: its drainer is started with replay().
   * The caller still owns it: it passes it the routes on each config apply, and closes it.
   */
  deferrer?: Deferrer;
  /** The inbound plane's load level (0..3). */
  loadLevel: () => number;
  now?: () => number;
  /** `--access-log refusals|all`; absent: off. */
  accessLog?: AccessLog;
  /** Request head limits and client timeouts (defaults: the engine's, as on the inbound). */
  limits?: Partial<ServerLimits>;
}

export interface EgressVendorState {
  name: string;
  ok: number;
  fail: number;
  successRate: number | null;
}

export interface EgressRouteState {
  name: string;
  activeVendor: string;
  inflight: number;
  limit: number | null;
  shedAtLevel: number | null;
  vendors: EgressVendorState[];
}

export interface EgressState {
  routes: EgressRouteState[];
}

export class Egress implements EgressContext, RequestHandler {
  private routes = new Map<string, EgressRoute>();
  private targets = new Map<string, VendorTarget>();
  readonly metrics: EgressMetrics;
  readonly dedup: DedupStore;
  readonly endLog: AccessLog | null;
  private readonly accessLog: AccessLog | null;
  private readonly redis: EgressRedis | null;
  private readonly reporter: HealthReporter | null;
  readonly now: () => number;
  private readonly loadLevel: () => number;
  private readonly server: Http1Server;

  private constructor(private readonly o: EgressOptions) {
    this.now = o.now ?? Date.now;
    this.loadLevel = o.loadLevel;
    this.accessLog = o.accessLog ?? null;
    this.endLog = this.accessLog !== null && this.accessLog.ends ? this.accessLog : null;
    this.metrics = new EgressMetrics(o.registry, {
      forEachRate: (fn) => this.forEachRate(fn),
      forEachInflight: (fn) => {
        for (const r of this.routes.values()) fn(r.name, r.limiter.inflight);
      },
    });
    // Every key the egress writes carries the workload (dedup, vendor health): no Redis without it.
    if (o.redisUrl && !o.configKey) throw new Error('the egress needs configKey with redisUrl');
    this.redis = o.redisUrl ? connectEgressRedis(o.redisUrl) : null;
    this.dedup = this.redis && o.configKey ? new RedisDedupStore(this.redis, o.configKey) : new MemoryDedupStore(this.now);
    this.reporter =
      this.redis && o.configKey ? new HealthReporter(this.redis, o.configKey, o.podName, () => this.routes.values(), this.now) : null;
    this.server = new Http1Server(this, { ...DEFAULT_LIMITS, ...o.limits }, this.now);
  }

  static async start(o: EgressOptions): Promise<Egress> {
    const e = new Egress(o);
    if (e.redis) await waitReady(e.redis, 1000);
    try {
      await e.server.listen(o.port, o.host ?? '127.0.0.1');
    } catch (err) {
      e.redis?.disconnect();
      throw err;
    }
    e.reporter?.start();
    o.deferrer?.startDrainer(
      (s) => e.replay(s),
      () => e.loadLevel() === 0,
    );
    return e;
  }

  get port(): number {
    return this.server.port;
  }

  /** The listener's client connections (open, refused at the cap). */
  get connections(): ConnectionCounts {
    return this.server;
  }

  /** New sends use the new routes at once; sends in flight finish on what they started with. */
  apply(config: CompiledConfig): void {
    this.applyRoutes(config.routes);
  }

  /** No routes (the config was withdrawn). */
  clear(): void {
    this.applyRoutes([]);
  }

  state(): EgressState {
    const t = this.now();
    return {
      routes: [...this.routes.values()].map((r) => ({
        name: r.name,
        activeVendor: r.failover.activeName,
        inflight: r.limiter.inflight,
        limit: r.compiled.limit,
        shedAtLevel: r.compiled.shedAtLevel,
        vendors: r.vendorNames.map((name, i) => ({ name, ...r.failover.counts(i, t), successRate: r.failover.rate(i, t) })),
      })),
    };
  }

  /** Sends a deferred send again (see replay.ts). */
  replay(send: DeferredSend): Promise<ReplayOutcome> {
    return replay(this, this.routes.get(send.route), send);
  }

  async close(): Promise<void> {
    this.reporter?.stop();
    const closed = this.server.stopAccepting();
    this.server.destroyAll();
    await closed;
    for (const tg of this.targets.values()) tg.destroy();
    if (this.redis) this.redis.disconnect();
  }

  private applyRoutes(routes: readonly CompiledRoute[]): void {
    const t = this.now();
    const next = new Map<string, EgressRoute>();
    const usedTargets = new Map<string, VendorTarget>();
    const target = (v: CompiledVendor): VendorTarget => {
      const k = `${v.name} ${v.url} ${v.timeoutMs}`;
      let tg = usedTargets.get(k) ?? this.targets.get(k);
      if (!tg) tg = vendorTarget(v, this.now);
      usedTargets.set(k, tg);
      return tg;
    };
    for (const c of routes) {
      const old = this.routes.get(c.name);
      const r = old && old.sameShape(c) ? old : new EgressRoute(c, this.metrics, this.now, this.accessLog);
      r.update(c, target, t);
      this.metrics.showActive(r.name, r.vendorNames, r.failover.activeName);
      next.set(c.name, r);
    }
    for (const [name, r] of this.routes) {
      if (next.get(name) !== r) this.metrics.forgetRoute(name, r.vendorNames);
    }
    // Pools no route uses any more: closed once their sends in flight have ended.
    for (const [k, tg] of this.targets) if (!usedTargets.has(k)) tg.retire();
    this.routes = next;
    this.targets = usedTargets;
  }

  /** The pipeline, for a head the engine parsed: route → load level → permit, or defer, or refuse → forward (SendExchange). */
  request(conn: ServerConn, head: RequestHead): void {
    const url = head.target;
    let end = url.indexOf('/', 1);
    const q = url.indexOf('?');
    if (end < 0 || (q >= 0 && q < end)) end = q < 0 ? url.length : q;
    const route = this.routes.get(url.slice(1, end));
    if (!route) {
      unknownRoute(conn);
      return;
    }
    const path = vendorPath(url.slice(end));
    const level = this.loadLevel();
    const d = admit(route, level);
    if (d === GRANTED) {
      new SendExchange(this, route, conn, head, path, level).admitted();
      return;
    }
    // Routes have no queue: anything but a permit is a refusal (load level or capacity).
    const deferrer = this.o.deferrer;
    if (route.compiled.defer && deferrer) new ShedExchange(this, deferrer, route, conn, head, path, level).start();
    else refuse(route, d === O_LOAD_LEVEL ? 'load-level' : 'capacity', conn, head, level);
  }

  private forEachRate(fn: (route: string, vendor: string, rate: number | null) => void): void {
    const t = this.now();
    for (const r of this.routes.values()) r.vendorNames.forEach((v, i) => fn(r.name, v, r.failover.rate(i, t)));
  }
}

/** The client for a vendor's scheme: the engine's pool for http://, node:https for https://. */
function vendorTarget(v: CompiledVendor, now: () => number): VendorTarget {
  const u = new URL(v.url);
  return u.protocol === 'https:' ? new HttpsVendor(v, u, now) : new HttpVendor(v, u, now);
}

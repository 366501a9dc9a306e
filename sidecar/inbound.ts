/**
 * The inbound proxy: every request to the pod passes here on its way to the app container.
 * Pipeline per request, top to bottom in request(): the engine parses it (http1/) → classify →
 * load level → permit, queue or refuse (admission/permit.ts, refusals from
 * admission/refusals.ts) → forward with the class timeout (inbound-exchange.ts) → end(outcome),
 * the only release of the slot. See docs/sidecar-data-plane.md.
 */
import type { Registry } from 'prom-client';
import { effectiveLimit, extraRank } from '../api/compile.js';
import type { CompiledConfig } from '../api/config.js';
import type { AccessLog } from './admission/access-log.js';
import { admissionRefusal, SHADOW_OUTCOMES, type ShadowOutcome } from './admission/outcomes.js';
import { BorrowPool } from './admission/borrow-pool.js';
import { admit, GRANTED, QUEUE } from './admission/permit.js';
import { PodLoad, type ShadowState } from './admission/shadow.js';
import { ClassRuntime, type ClassSettings } from './class-runtime.js';
import { Classifier } from './classifier.js';
import type { DataPlane, DataPlaneState } from './contracts.js';
import type { RequestHead } from './http1/head.js';
import { DEFAULT_LIMITS, Http1Server, type ConnectionCounts, type RequestHandler, type ServerConn, type ServerLimits } from './http1/server.js';
import { UpstreamPool } from './http1/upstream.js';
import { InboundExchange, refuse, type ExchangeHost } from './inbound-exchange.js';
import { InboundMetrics } from './inbound-metrics.js';
import { LoadLevel } from './load-level.js';
import { Sessions } from './websocket.js';

export interface InboundOptions {
  /** 0 in tests. */
  port: number;
  /** Default '0.0.0.0'. */
  host?: string;
  /** e.g. 'http://127.0.0.1:8080' */
  upstream: string;
  /** Whether this pod takes a Cluster-scope +1: its place in the config's extraPods. */
  podName: string;
  /** Where the data plane's metrics are registered. */
  registry: Registry;
  /** Keep-alive pool bound to the upstream (default 1024). */
  maxUpstreamSockets?: number;
  /** Request head limits and client timeouts (defaults: DEFAULT_LIMITS). */
  limits?: Partial<ServerLimits>;
  /** Connecting to the upstream may take this long before the request gets 502 (default 5000). */
  connectTimeoutMs?: number;
  /** ms clock, injectable; default performance.now. */
  now?: () => number;
  /** `--access-log refusals|all`; absent: off. */
  accessLog?: AccessLog;
}

/** The class everything belongs to before a config is applied: unlimited pass-through. */
const UNCONFIGURED: ClassSettings = {
  name: 'unconfigured',
  priority: 0,
  queue: { size: 0, timeoutMs: 1 },
  shedAtLevel: null,
  timeoutMs: null,
  rejectStatus: 503,
  affectsLoadLevel: false,
};
const SAMPLE_INTERVAL_MS = 100;
/** close(): how long in-flight requests may take to finish before connections are cut. */
const DRAIN_MS = 10_000;
/** Pooled upstream connections idle longer than this are closed: below Node's default keep-alive timeout (5 s), so the race is rare. */
const UPSTREAM_IDLE_MS = 4_000;

export class Inbound implements DataPlane, RequestHandler, ExchangeHost {
  readonly port: number;
  readonly sessions = new Sessions();
  readonly pool: UpstreamPool;
  /** Host sent for an HTTP/1.0 request that named none. */
  readonly defaultHost: string;
  readonly now: () => number;
  /** Refusal lines go through the class refusal tables; this is for end lines (mode `all`), else null. */
  readonly endLog: AccessLog | null;
  private readonly accessLog: AccessLog | null;
  /** Current load level: read on every request, written only by the sampler. */
  level = 0;
  private utilisation = 0;
  private config: CompiledConfig | null = null;
  private classifier: Classifier | null = null;
  /** Classes in force, in match order (or just the unconfigured one). */
  private classes: ClassRuntime[];
  /** Every class runtime that is in force or still draining, by name. */
  private readonly runtimes = new Map<string, ClassRuntime>();
  /** Shadow's pod-wide concurrency sums, over the classes in force. */
  private readonly podLoad = new PodLoad(() => this.classes);
  private readonly unconfigured: ClassRuntime;
  private readonly levels = new LoadLevel({ thresholds: [0.7, 0.85, 0.95], holdSeconds: 5 });
  private readonly metrics: InboundMetrics;
  private readonly startedAt: number;
  private warming = false;
  private readonly sampler: NodeJS.Timeout;

  private readonly server: Http1Server;

  private constructor(opts: InboundOptions) {
    const up = new URL(opts.upstream);
    if (up.protocol !== 'http:') throw new Error(`upstream must be an http:// URL, got ${opts.upstream}`);
    this.now = opts.now ?? performance.now.bind(performance);
    this.startedAt = this.now();
    this.maxUpstreamSockets = opts.maxUpstreamSockets ?? 1024;
    this.defaultHost = up.host;
    this.pool = new UpstreamPool({
      host: up.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: up.port === '' ? 80 : Number(up.port),
      maxSockets: this.maxUpstreamSockets,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
      idleTimeoutMs: UPSTREAM_IDLE_MS,
      now: this.now,
    });
    // Classification by path must see the path the app will route (http1/target.ts).
    this.server = new Http1Server(this, { ...DEFAULT_LIMITS, ...opts.limits, normalizeTarget: true }, this.now);
    this.podName = opts.podName;
    this.accessLog = opts.accessLog ?? null;
    this.endLog = this.accessLog !== null && this.accessLog.ends ? this.accessLog : null;
    this.metrics = new InboundMetrics(opts.registry, {
      classes: () => this.classes,
      loadLevel: () => this.level,
      utilisation: () => this.utilisation,
      sessions: () => this.sessions.count,
    });
    this.unconfigured = this.newRuntime(UNCONFIGURED, Infinity);
    this.classes = [this.unconfigured];
    this.port = 0;
    this.sampler = setInterval(this.sample, SAMPLE_INTERVAL_MS);
    this.sampler.unref();
  }

  private readonly podName: string;
  private readonly maxUpstreamSockets: number;

  static async start(opts: InboundOptions): Promise<Inbound> {
    const inbound = new Inbound(opts);
    try {
      await inbound.server.listen(opts.port, opts.host ?? '0.0.0.0');
    } catch (e) {
      inbound.dispose();
      throw e;
    }
    (inbound as { port: number }).port = inbound.server.port;
    return inbound;
  }

  apply(config: CompiledConfig): void {
    const rank = extraRank(config, this.podName);
    const factor = this.warmupFactor(config);
    this.warming = factor < 1;
    const next: ClassRuntime[] = [];
    for (const c of config.classes) {
      const base = effectiveLimit(c, rank);
      const limit = scaled(base, factor);
      let rt = this.runtimes.get(c.name);
      if (rt) rt.update(c, base, limit);
      else {
        rt = this.newRuntime(c, limit);
        rt.baseLimit = base;
        this.runtimes.set(c.name, rt);
      }
      next.push(rt);
    }
    // Borrowing: one lending pool over the classes in force when any of them borrows; classes
    // that are draining keep their slots to themselves.
    for (const rt of this.runtimes.values()) rt.limiter.pool = null;
    if (next.some((c) => c.limiter.borrowMax > 0)) new BorrowPool(next.map((c) => ({ limiter: c.limiter, priority: c.priority }))).attach();
    // The budgets are the real bound on upstream concurrency; the pool must not be smaller than
    // their sum, or requests of one class (held long-polls) would wait in the Agent and block all.
    // (Borrowing never exceeds the sum; an adaptive limit may grow to its maxLimit.)
    this.pool.setMaxSockets(
      Math.max(this.maxUpstreamSockets, next.reduce((sum, c) => sum + (c.adaptive !== null ? c.adaptive.maxLimit : c.baseLimit), 0)),
    );
    this.levels.configure(config.loadLevels);
    this.classifier = new Classifier(config.classes, config.pathMatching);
    this.classes = next;
    this.config = config;
  }

  clear(): void {
    this.config = null;
    this.classifier = null;
    this.classes = [this.unconfigured];
    this.warming = false;
    this.pool.setMaxSockets(this.maxUpstreamSockets);
    this.levels.reset();
    this.level = 0;
    this.utilisation = 0;
  }

  state(): DataPlaneState {
    return {
      loadLevel: this.level,
      utilisation: this.utilisation,
      sessions: this.sessions.count,
      configVersion: this.config?.version ?? 0,
      classes: this.classes.map((c) => ({
        name: c.name,
        priority: c.priority,
        limit: c.limiter.limit,
        inflight: c.limiter.inflight,
        queued: c.shadow && c.shadowState !== null ? c.shadowState.queued : c.limiter.queued,
        queueSize: c.limiter.queueSize,
        shedAtLevel: c.shedAtLevel === Infinity ? null : c.shedAtLevel,
        borrowed: c.limiter.borrowed,
        mode: c.shadow ? 'Shadow' : 'Enforce',
        wouldBe: c.shadow ? wouldBeCounts(c.shadowCounts) : null,
        flows: c.limiter.fair === null ? null : c.limiter.fair.size,
      })),
    };
  }

  loadLevel(): number {
    return this.level;
  }

  /** The listener's client connections (open, refused at the cap). */
  get connections(): ConnectionCounts {
    return this.server;
  }

  /** Stops accepting, lets in-flight and queued requests finish (up to DRAIN_MS), then closes sessions and connections. */
  async close(): Promise<void> {
    clearInterval(this.sampler);
    const closed = this.server.stopAccepting();
    const deadline = Date.now() + DRAIN_MS;
    while (this.pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.sessions.closeAll();
    this.server.destroyAll();
    this.dispose();
    await closed;
  }

  private dispose(): void {
    clearInterval(this.sampler);
    this.pool.destroy();
    for (const rt of this.runtimes.values()) rt.dispose();
    this.unconfigured.dispose();
  }

  private pending(): number {
    let n = busy(this.unconfigured);
    for (const rt of this.runtimes.values()) n += busy(rt);
    return n;
  }

  private classOf(head: RequestHead): ClassRuntime {
    const classifier = this.classifier;
    if (classifier === null) return this.unconfigured;
    const classes = this.classes;
    const i = classifier.classify(head.method, head.target, head, head.upgrade);
    return i < classes.length ? classes[i] : classes[classes.length - 1];
  }

  /** The pipeline, for a head the engine parsed: classify → load level → permit, queue or refuse → forward (InboundExchange). */
  request(conn: ServerConn, head: RequestHead): void {
    const cls = this.classOf(head);
    if (cls.limiter.fair !== null) cls.limiter.fair.key = flowKey(cls, conn, head);
    if (cls.shadow) {
      (cls.shadowState as ShadowState).admit(this.level, this.now());
      new InboundExchange(this, conn, head, cls).pass();
      return;
    }
    const d = admit(cls, this.level);
    if (d === GRANTED) new InboundExchange(this, conn, head, cls).admitted();
    else if (d === QUEUE) cls.limiter.enqueue(new InboundExchange(this, conn, head, cls));
    else refuse(conn, head, cls, admissionRefusal(d), this.level);
  }

  /** Off the hot path: utilisation, load level, warm-up limits, pruning drained classes. */
  private readonly sample = (): void => {
    let inflight = 0;
    let limit = 0;
    const now = this.now();
    for (const c of this.classes) {
      // Shadow: would-be slots and waiters move with time, not only with arrivals.
      if (c.shadow) (c.shadowState as ShadowState).advance(now);
      if (!c.affectsLoadLevel) continue;
      inflight += c.limiter.inflight;
      limit += c.limiter.limit;
    }
    this.utilisation = limit > 0 ? inflight / limit : 0;
    this.level = this.config === null ? 0 : this.levels.update(this.utilisation, now);
    if (this.warming && this.config !== null) {
      const factor = this.warmupFactor(this.config);
      this.warming = factor < 1;
      for (const c of this.classes) c.limiter.setLimit(scaled(c.baseLimit, factor));
    }
    for (const [name, rt] of this.runtimes) {
      if (busy(rt) === 0 && !this.classes.includes(rt)) {
        rt.dispose();
        this.runtimes.delete(name);
      }
    }
  };

  private warmupFactor(config: CompiledConfig): number {
    if (config.warmupSeconds <= 0) return 1;
    return Math.min(1, (this.now() - this.startedAt) / (config.warmupSeconds * 1000));
  }

  private newRuntime(settings: ClassSettings, limit: number): ClassRuntime {
    return new ClassRuntime(
      settings,
      limit,
      this.now,
      this.metrics.countsFor(settings.name),
      this.metrics.durationFor(settings.name),
      this.accessLog,
      this.metrics.shadowCountsFor(settings.name),
      this.podLoad,
    );
  }
}

/** Requests of a class really running or waiting (a Shadow class's would-be slots are not requests). */
function busy(rt: ClassRuntime): number {
  const s = rt.shadowState;
  return rt.limiter.inflight + rt.limiter.queued + (s === null ? 0 : s.running - s.virtual);
}

/** Fairness: the flow a request belongs to (the class's header, first value; or the client address). */
function flowKey(cls: ClassRuntime, conn: ServerConn, head: RequestHead): string {
  const name = cls.flowHeaderBytes;
  if (name === null) return conn.remoteAddress;
  return head.value(name) ?? '';
}

/** Slow start: a share of the limit, never below 1. */
function scaled(limit: number, factor: number): number {
  return factor >= 1 ? limit : Math.max(1, Math.ceil(limit * factor));
}

/** A Shadow class's would-be counts by outcome name, for /state. */
function wouldBeCounts(counts: Float64Array): Record<ShadowOutcome, number> {
  const out = {} as Record<ShadowOutcome, number>;
  SHADOW_OUTCOMES.forEach((o, i) => (out[o] = counts[i]));
  return out;
}

/**
 * The inbound proxy: every request to the pod passes here on its way to the app container.
 * Pipeline per request, top to bottom in onRequest: classify → load level → permit, queue or
 * refuse (admission/permit.ts, refusals from admission/refusals.ts) → forward with the class
 * timeout → end(outcome), the only release of the slot. See docs/sidecar-data-plane.md.
 */
import { Agent, createServer, request, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { effectiveLimit, podSlot } from '../api/compile.js';
import type { CompiledConfig } from '../api/config.js';
import type { AccessLog } from './admission/access-log.js';
import { admissionRefusal, O_ABORTED, O_ERROR, O_SUCCESS, O_UPSTREAM_ERROR, outcomeName, type OutcomeCode } from './admission/outcomes.js';
import { BorrowPool } from './admission/borrow-pool.js';
import { admit, GRANTED, PASS, Permit, QUEUE } from './admission/permit.js';
import { ClassRuntime, type ClassSettings } from './class-runtime.js';
import { Classifier } from './classifier.js';
import type { DataPlane, DataPlaneState } from './contracts.js';
import { InboundMetrics } from './inbound-metrics.js';
import { LoadLevel } from './load-level.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './proxy-headers.js';
import { Sessions, UpgradeExchange, type UpgradeHost } from './websocket.js';

export interface InboundOptions {
  /** 0 in tests. */
  port: number;
  /** Default '0.0.0.0'. */
  host?: string;
  /** e.g. 'http://127.0.0.1:8080' */
  upstream: string;
  /** For the Cluster-scope slot: podSlot(podName, readyReplicas). */
  podName: string;
  /** Where the data plane's metrics are registered. */
  registry: Registry;
  /** Keep-alive pool bound to the upstream (default 1024). */
  maxUpstreamSockets?: number;
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

export class Inbound implements DataPlane, UpgradeHost {
  readonly port: number;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly sessions = new Sessions();
  readonly agent: Agent;
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
  private readonly unconfigured: ClassRuntime;
  private readonly levels = new LoadLevel({ thresholds: [0.7, 0.85, 0.95], holdSeconds: 5 });
  private readonly metrics: InboundMetrics;
  private readonly startedAt: number;
  private warming = false;
  private readonly sampler: NodeJS.Timeout;

  private constructor(
    private readonly server: Server,
    opts: InboundOptions,
  ) {
    const up = new URL(opts.upstream);
    if (up.protocol !== 'http:') throw new Error(`upstream must be an http:// URL, got ${opts.upstream}`);
    this.upstreamHost = up.hostname.replace(/^\[(.*)\]$/, '$1');
    this.upstreamPort = up.port === '' ? 80 : Number(up.port);
    this.now = opts.now ?? performance.now.bind(performance);
    this.startedAt = this.now();
    this.maxUpstreamSockets = opts.maxUpstreamSockets ?? 1024;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: this.maxUpstreamSockets,
      maxFreeSockets: this.maxUpstreamSockets,
      scheduling: 'lifo',
    });
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
    this.port = (server.address() as AddressInfo).port;
    server.on('request', this.onRequest);
    server.on('upgrade', this.onUpgrade);
    this.sampler = setInterval(this.sample, SAMPLE_INTERVAL_MS);
    this.sampler.unref();
  }

  private readonly podName: string;
  private readonly maxUpstreamSockets: number;

  static async start(opts: InboundOptions): Promise<Inbound> {
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new Inbound(server, opts);
  }

  apply(config: CompiledConfig): void {
    const slot = podSlot(this.podName, config.readyReplicas);
    const factor = this.warmupFactor(config);
    this.warming = factor < 1;
    const next: ClassRuntime[] = [];
    for (const c of config.classes) {
      const base = effectiveLimit(c, slot);
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
    this.agent.maxSockets = Math.max(
      this.maxUpstreamSockets,
      next.reduce((sum, c) => sum + (c.adaptive !== null ? c.adaptive.maxLimit : c.baseLimit), 0),
    );
    this.levels.configure(config.loadLevels);
    this.classifier = new Classifier(config.classes);
    this.classes = next;
    this.config = config;
  }

  clear(): void {
    this.config = null;
    this.classifier = null;
    this.classes = [this.unconfigured];
    this.warming = false;
    this.agent.maxSockets = this.maxUpstreamSockets;
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
        queued: c.limiter.queued,
        queueSize: c.limiter.queueSize,
        shedAtLevel: c.shedAtLevel === Infinity ? null : c.shedAtLevel,
        borrowed: c.limiter.borrowed,
        mode: c.shadow ? 'Shadow' : 'Enforce',
        flows: c.limiter.fair === null ? null : c.limiter.fair.size,
      })),
    };
  }

  loadLevel(): number {
    return this.level;
  }

  /** Stops accepting, lets in-flight and queued requests finish (up to DRAIN_MS), then closes sessions and connections. */
  async close(): Promise<void> {
    clearInterval(this.sampler);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + DRAIN_MS;
    while (this.pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.sessions.closeAll();
    this.server.closeAllConnections();
    this.agent.destroy();
    for (const rt of this.runtimes.values()) rt.dispose();
    this.unconfigured.dispose();
    await closed;
  }

  private pending(): number {
    let n = this.unconfigured.limiter.inflight + this.unconfigured.limiter.queued;
    for (const rt of this.runtimes.values()) n += rt.limiter.inflight + rt.limiter.queued;
    return n;
  }

  private classOf(req: IncomingMessage, websocket: boolean): ClassRuntime {
    const classifier = this.classifier;
    if (classifier === null) return this.unconfigured;
    const classes = this.classes;
    const i = classifier.classify(req.method ?? 'GET', req.url ?? '/', req.headers, websocket);
    return i < classes.length ? classes[i] : classes[classes.length - 1];
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const cls = this.classOf(req, false);
    if (cls.limiter.fair !== null) cls.limiter.fair.key = flowKey(cls, req);
    const d = admit(cls, this.level);
    if (d === GRANTED) new HttpExchange(this, req, res, cls).admitted();
    else if (d === QUEUE) cls.limiter.enqueue(new HttpExchange(this, req, res, cls));
    else if (d === PASS) new HttpExchange(this, req, res, cls).pass();
    else cls.refusals.send(admissionRefusal(d), req, res, this.level);
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const cls = this.classOf(req, true);
    if (cls.limiter.fair !== null) cls.limiter.fair.key = flowKey(cls, req);
    const d = admit(cls, this.level);
    if (d === GRANTED) new UpgradeExchange(this, req, socket, head, cls).admitted();
    else if (d === QUEUE) cls.limiter.enqueue(new UpgradeExchange(this, req, socket, head, cls));
    else if (d === PASS) new UpgradeExchange(this, req, socket, head, cls).pass();
    else cls.refusals.sendRaw(admissionRefusal(d), req, socket, this.level);
  };

  /** Off the hot path: utilisation, load level, warm-up limits, pruning drained classes. */
  private readonly sample = (): void => {
    let inflight = 0;
    let limit = 0;
    for (const c of this.classes) {
      if (!c.affectsLoadLevel) continue;
      inflight += c.limiter.inflight;
      limit += c.limiter.limit;
    }
    this.utilisation = limit > 0 ? inflight / limit : 0;
    const now = this.now();
    this.level = this.config === null ? 0 : this.levels.update(this.utilisation, now);
    if (this.warming && this.config !== null) {
      const factor = this.warmupFactor(this.config);
      this.warming = factor < 1;
      for (const c of this.classes) c.limiter.setLimit(scaled(c.baseLimit, factor));
    }
    for (const [name, rt] of this.runtimes) {
      if (rt.limiter.inflight === 0 && rt.limiter.queued === 0 && !this.classes.includes(rt)) {
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
    );
  }
}

/** Fairness: the flow a request belongs to (the class's header, first value; or the client address). */
function flowKey(cls: ClassRuntime, req: IncomingMessage): string {
  const h = cls.flowHeader;
  if (h === null) return req.socket.remoteAddress ?? '';
  const v = req.headers[h];
  return v === undefined ? '' : typeof v === 'string' ? v : (v[0] ?? '');
}

/** Slow start: a share of the limit, never below 1. */
function scaled(limit: number, factor: number): number {
  return factor >= 1 ? limit : Math.max(1, Math.ceil(limit * factor));
}

const kExchange = Symbol('spillway.exchange');
type Tagged<T> = T & { [kExchange]: HttpExchange };

/**
 * One proxied HTTP request, holding its class permit (see admission/permit.ts). Its listeners
 * are shared module functions that find the exchange through a symbol on the emitter, so a
 * request allocates no closures.
 */
class HttpExchange extends Permit<ClassRuntime> {
  status = 0;
  upReq: ClientRequest | null = null;

  constructor(
    private readonly inbound: Inbound,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    cls: ClassRuntime,
  ) {
    super(cls);
    (res as Tagged<ServerResponse>)[kExchange] = this;
    res.on('close', onResponseClose);
  }

  protected forward(): void {
    const req = this.req;
    const inbound = this.inbound;
    const upReq = request({
      host: inbound.upstreamHost,
      port: inbound.upstreamPort,
      method: req.method,
      path: req.url,
      headers: upstreamRequestHeaders(req.rawHeaders, req.socket.remoteAddress, null),
      agent: inbound.agent,
    });
    (upReq as Tagged<ClientRequest>)[kExchange] = this;
    upReq.on('response', onUpstreamResponse);
    upReq.on('error', onUpstreamError);
    this.upReq = upReq;
    const h = req.headers;
    if (h['content-length'] === undefined && h['transfer-encoding'] === undefined) upReq.end();
    else req.pipe(upReq);
  }

  protected refuseQueued(reason: 'queue-timeout' | 'capacity'): void {
    this.budget.refusals.send(reason, this.req, this.res, this.inbound.level);
  }

  protected timedOut(): void {
    this.upReq?.destroy();
    this.budget.refusals.send('upstream-timeout', this.req, this.res, this.inbound.level);
  }

  responded(upRes: IncomingMessage): void {
    if (!this.active) {
      upRes.resume();
      return;
    }
    const status = upRes.statusCode ?? 502;
    this.status = status;
    this.res.writeHead(status, upRes.statusMessage, clientResponseHeaders(upRes.rawHeaders));
    (upRes as Tagged<IncomingMessage>)[kExchange] = this;
    upRes.on('close', onUpstreamResponseClose);
    upRes.pipe(this.res);
  }

  upstreamFailed(): void {
    if (!this.end(O_UPSTREAM_ERROR)) return;
    this.upReq?.destroy();
    this.budget.refusals.send('upstream-error', this.req, this.res, this.inbound.level);
  }

  protected override ended(outcome: OutcomeCode): void {
    const log = this.inbound.endLog;
    if (log !== null) {
      log.ended(this.budget.name, outcomeName(outcome), this.status, this.req.method, this.req.url, this.inbound.level, this.budget.now() - this.start);
    }
  }

  clientClosed(): void {
    if (!this.clientLeft()) return;
    if (this.res.writableFinished) this.end(this.status >= 500 ? O_ERROR : O_SUCCESS);
    else {
      this.end(O_ABORTED);
      this.upReq?.destroy();
    }
  }
}

function onResponseClose(this: Tagged<ServerResponse>): void {
  this[kExchange].clientClosed();
}
function onUpstreamResponse(this: Tagged<ClientRequest>, upRes: IncomingMessage): void {
  this[kExchange].responded(upRes);
}
function onUpstreamError(this: Tagged<ClientRequest>): void {
  this[kExchange].upstreamFailed();
}
/** The upstream response ended early (upstream died mid-body): the client cannot get it whole. */
function onUpstreamResponseClose(this: Tagged<IncomingMessage>): void {
  if (!this.complete) this[kExchange].upstreamFailed();
}

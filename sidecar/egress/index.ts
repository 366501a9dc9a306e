/**
 * The egress: `http://127.0.0.1:<port>/<route>/<path>` goes to the route's active vendor, with
 * the route's budget (in-flight limit, load-level shedding, deferral), duplicate suppression
 * and failover. Also the replay path the deferral drainer sends deferred sends through.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Registry } from 'prom-client';
import type { CompiledConfig, CompiledRoute } from '../../api/config.js';
import type { DeferredSend, Deferrer, ReplayOutcome } from './contracts.js';
import { MemoryDedupStore, RedisDedupStore, type DedupStore } from './dedup.js';
import { HealthReporter } from './health-report.js';
import { clientResponseHeaders } from '../proxy-headers.js';
import { callerBudgetMs, forwardHeaders, hasBody, headerValue, readBody, storedRequestHeaders, vendorRequestHeaders } from './http-util.js';
import { EgressMetrics } from './metrics.js';
import { isRetrySafe } from './outcome.js';
import { connectEgressRedis, waitReady, type EgressRedis } from './redis.js';
import { reject, sendJson } from './reject.js';
import { EgressRoute } from './route.js';
import { Send, sendOnce, type SendOwner } from './send.js';
import { VendorTarget } from './vendor-client.js';

export type { DeferredSend, Deferrer, ReplayOutcome } from './contracts.js';

export interface EgressOptions {
  port: number;
  host?: string;
  registry: Registry;
  podName: string;
  /** Dedup claims and vendor-health reports; absent: standalone, dedup within this pod only. */
  redisUrl?: string;
  /** `<namespace>/<target>`, for the vendor-health report keys. */
  configKey?: string;
  /**
   * Absent: no deferral; shed sends are refused. Given: its drainer is started with replay().
   * The caller still owns it: it passes it the routes on each config apply, and closes it.
   */
  deferrer?: Deferrer;
  /** The inbound plane's load level (0..3). */
  loadLevel: () => number;
  now?: () => number;
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

/** Bodies kept in memory (for retries on another vendor, or for deferral) up to this size. */
export const MAX_BUFFERED_BODY = 1024 * 1024;
/** A dedup claim outlives its send's budget by this much before it lapses unanswered. */
const CLAIM_MARGIN_MS = 5000;
const DUPLICATE_HEADERS = { 'x-spillway-duplicate': 'true' };
/** Links a vendor's answer and the caller's response while one is piped into the other. */
const kPeer = Symbol('peer');

/** One caller's send on the usual path, from admission to the answer (see Egress.forward). */
class Exchange implements SendOwner {
  key: string;
  deadline: number;
  claimed = false;
  /** Answered (or failed): the route's in-flight slot is given back exactly once. */
  ended = false;

  constructor(
    private readonly egress: Egress,
    readonly route: EgressRoute,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly path: string,
    readonly level: number,
  ) {
    this.key = headerValue(req.headers[route.keyHeader]);
    this.deadline = egress.now() + (callerBudgetMs(req) ?? route.defaultBudgetMs);
  }

  sent(send: Send): void {
    this.egress.sent(this, send);
  }
}

export class Egress {
  private routes = new Map<string, EgressRoute>();
  private targets = new Map<string, VendorTarget>();
  private readonly metrics: EgressMetrics;
  private readonly dedup: DedupStore;
  private readonly redis: EgressRedis | null;
  private readonly reporter: HealthReporter | null;
  readonly now: () => number;
  private readonly loadLevel: () => number;
  private readonly server: Server;

  private constructor(private readonly o: EgressOptions) {
    this.now = o.now ?? Date.now;
    this.loadLevel = o.loadLevel;
    this.metrics = new EgressMetrics(o.registry, {
      forEachRate: (fn) => this.forEachRate(fn),
      forEachInflight: (fn) => {
        for (const r of this.routes.values()) fn(r.name, r.inflight);
      },
    });
    this.redis = o.redisUrl ? connectEgressRedis(o.redisUrl) : null;
    this.dedup = this.redis ? new RedisDedupStore(this.redis) : new MemoryDedupStore(this.now);
    this.reporter =
      this.redis && o.configKey ? new HealthReporter(this.redis, o.configKey, o.podName, () => this.routes.values(), this.now) : null;
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  static async start(o: EgressOptions): Promise<Egress> {
    const e = new Egress(o);
    if (e.redis) await waitReady(e.redis, 1000);
    await new Promise<void>((resolve, rejectListen) => {
      e.server.once('error', rejectListen);
      e.server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
    });
    e.reporter?.start();
    o.deferrer?.startDrainer(
      (s) => e.replay(s),
      () => e.loadLevel() === 0,
    );
    return e;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : this.o.port;
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
        inflight: r.inflight,
        limit: r.compiled.limit,
        shedAtLevel: r.compiled.shedAtLevel,
        vendors: r.vendorNames.map((name, i) => ({ name, ...r.failover.counts(i, t), successRate: r.failover.rate(i, t) })),
      })),
    };
  }

  /**
   * Sends a deferred send again (dedup + failover, never deferred again). delivered: a vendor
   * took it (or it was delivered before); failed: a vendor refused it as the caller's fault
   * (will not succeed later); retry: anything else (vendors failing, budget full, Redis away).
   */
  async replay(send: DeferredSend): Promise<ReplayOutcome> {
    const route = this.routes.get(send.route);
    if (!route) return 'failed';
    if (route.compiled.limit !== null && route.inflight >= route.compiled.limit) return 'retry';
    route.inflight++;
    try {
      const budget = route.defaultBudgetMs;
      let claimed = false;
      if (send.key !== '' && route.compiled.dedup) {
        const c = await this.dedup.claim(route.name, send.key, budget + CLAIM_MARGIN_MS);
        if (c.kind === 'done') {
          this.metrics.dedupSuppressed.inc({ route: route.name });
          return 'delivered';
        }
        if (c.kind === 'pending') return 'retry';
        if (c.kind === 'unavailable') {
          if (route.compiled.dedup.onRedisDown === 'refuse') return 'retry';
          this.metrics.dedupBypassed.inc({ route: route.name });
        }
        claimed = c.kind === 'claimed';
      }
      const retryable = this.mayRetry(route, send.method, send.key !== '');
      const body = send.body.length > 0 ? send.body : null;
      const r = await sendOnce(route, send.method, send.path, storedRequestHeaders(send.headers, send.body.length), body, retryable, this.now() + budget, this.now);
      r.res?.resume();
      if (claimed) this.settleClaim(route, send.key, r);
      return r.outcome === 'success' ? 'delivered' : r.outcome === 'caller' ? 'failed' : 'retry';
    } finally {
      route.inflight--;
    }
  }

  async close(): Promise<void> {
    this.reporter?.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    for (const tg of this.targets.values()) tg.destroy();
    if (this.redis) this.redis.disconnect();
  }

  private applyRoutes(routes: readonly CompiledRoute[]): void {
    const t = this.now();
    const next = new Map<string, EgressRoute>();
    const usedTargets = new Map<string, VendorTarget>();
    const target = (v: CompiledRoute['vendors'][number]): VendorTarget => {
      const k = `${v.name} ${v.url} ${v.timeoutMs}`;
      let tg = usedTargets.get(k) ?? this.targets.get(k);
      if (!tg) tg = new VendorTarget(v, this.now);
      usedTargets.set(k, tg);
      return tg;
    };
    for (const c of routes) {
      const old = this.routes.get(c.name);
      const r = old && old.sameShape(c) ? old : new EgressRoute(c, this.metrics);
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

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    let end = url.indexOf('/', 1);
    const q = url.indexOf('?');
    if (end < 0 || (q >= 0 && q < end)) end = q < 0 ? url.length : q;
    const route = this.routes.get(url.slice(1, end));
    if (!route) {
      sendJson(res, 404, {}, '{"error":"unknown route"}');
      return;
    }
    const rest = url.slice(end);
    const path = rest === '' || rest[0] === '?' ? '/' + rest : rest;
    const level = this.loadLevel();
    const c = route.compiled;
    const shed =
      c.shedAtLevel !== null && level >= c.shedAtLevel ? 'load-level' : c.limit !== null && route.inflight >= c.limit ? 'capacity' : null;
    if (shed !== null) {
      if (c.defer && this.o.deferrer) {
        this.deferShed(route, this.o.deferrer, req, res, path, level).catch(() => reject(res, 503, route.name, 'defer-unavailable', level));
      } else {
        this.refuse(res, route, shed, level);
        req.resume();
      }
      return;
    }
    route.inflight++;
    const x = new Exchange(this, route, req, res, path, level);
    try {
      this.forward(x);
    } catch {
      this.failed(x);
    }
  }

  /**
   * The usual path is synchronous up to the vendor request: only a dedup claim (a Redis round
   * trip) or a body kept for a retry on another vendor needs to wait first.
   */
  private forward(x: Exchange): void {
    if (x.key !== '' && x.route.compiled.dedup) {
      this.claimThenSend(x).catch(() => this.failed(x));
      return;
    }
    this.sendBody(x);
  }

  private async claimThenSend(x: Exchange): Promise<void> {
    const { route, req, res } = x;
    const c = await this.dedup.claim(route.name, x.key, x.deadline - this.now() + CLAIM_MARGIN_MS);
    if (c.kind === 'done' || c.kind === 'pending') {
      this.answerDuplicate(req, res, route, c.kind === 'done' ? c.status : 409);
      this.end(x);
      return;
    }
    if (c.kind === 'unavailable') {
      if (route.compiled.dedup?.onRedisDown === 'refuse') {
        this.refuse(res, route, 'dedup-unavailable', x.level);
        req.resume();
        this.end(x);
        return;
      }
      this.metrics.dedupBypassed.inc({ route: route.name });
    }
    x.claimed = c.kind === 'claimed';
    this.sendBody(x);
  }

  private sendBody(x: Exchange): void {
    const req = x.req;
    const retryable = this.mayRetry(x.route, req.method ?? 'GET', x.key !== '');
    if (!hasBody(req)) this.startSend(x, null, retryable);
    else if (!retryable) this.startSend(x, req, false);
    else {
      readBody(req, MAX_BUFFERED_BODY)
        .then((body) => {
          if (body !== null) {
            this.startSend(x, body, true);
            return;
          }
          if (x.claimed) this.dedup.release(x.route.name, x.key);
          this.refuse(x.res, x.route, 'body-too-large', x.level, 413);
          this.end(x);
        })
        .catch(() => this.failed(x));
    }
  }

  private startSend(x: Exchange, body: Buffer | Readable | null, retryable: boolean): void {
    const req = x.req;
    new Send(x.route, req.method ?? 'GET', x.path, vendorRequestHeaders(req.rawHeaders, Buffer.isBuffer(body) ? body.length : null), body, retryable, x.deadline, this.now, x).start();
  }

  /** The send ended (called by its Exchange). */
  sent(x: Exchange, s: Send): void {
    if (x.ended) {
      s.res?.destroy();
      return;
    }
    if (x.claimed) this.settleClaim(x.route, x.key, s);
    this.respond(x.res, x.route, s, x.level);
    this.end(x);
  }

  /** Something broke before a vendor took the send (e.g. the caller vanished mid-body): the key is freed. */
  private failed(x: Exchange): void {
    if (x.ended) return;
    if (x.claimed) this.dedup.release(x.route.name, x.key);
    reject(x.res, 502, x.route.name, 'vendor-unavailable', x.level);
    this.end(x);
  }

  private end(x: Exchange): void {
    x.ended = true;
    x.route.inflight--;
  }

  private async deferShed(
    route: EgressRoute,
    deferrer: Deferrer,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    level: number,
  ): Promise<void> {
    const body = await readBody(req, MAX_BUFFERED_BODY);
    if (body === null) {
      this.refuse(res, route, 'body-too-large', level, 413);
      return;
    }
    const key = headerValue(req.headers[route.keyHeader]);
    // A repeat of a key already sent (or being sent) is answered as a duplicate, not stored.
    if (key !== '' && route.compiled.dedup) {
      const c = await this.dedup.peek(route.name, key);
      if (c.kind === 'done' || c.kind === 'pending') {
        this.answerDuplicate(req, res, route, c.kind === 'done' ? c.status : 409);
        return;
      }
    }
    const send: DeferredSend = {
      route: route.name,
      method: req.method ?? 'POST',
      path,
      headers: forwardHeaders(req.headers),
      body,
      key,
      firstSeenMs: this.now(),
      attempts: 0,
    };
    try {
      await deferrer.defer(send);
    } catch {
      this.refuse(res, route, 'defer-unavailable', level);
      return;
    }
    sendJson(res, 202, { 'x-spillway-deferred': 'true', 'x-spillway-class': route.name }, '{"deferred":true}');
  }

  private answerDuplicate(req: IncomingMessage, res: ServerResponse, route: EgressRoute, status: number): void {
    this.metrics.dedupSuppressed.inc({ route: route.name });
    sendJson(res, status, { ...DUPLICATE_HEADERS, 'x-spillway-class': route.name }, `{"duplicate":true,"status":${status}}`);
    req.resume();
  }

  private respond(res: ServerResponse, route: EgressRoute, r: Send, level: number): void {
    const src = r.res;
    if (src && res.destroyed) {
      // The caller left while the vendor answered: read the answer off so the connection is reused
      // (a stall is still cut at the vendor's timeout).
      src.resume();
      return;
    }
    if (src) {
      res.writeHead(src.statusCode ?? 502, src.statusMessage, clientResponseHeaders(src.rawHeaders));
      // pipe() rather than pipeline(): no abort-signal machinery per send on the hot path.
      (src as Peered<IncomingMessage, ServerResponse>)[kPeer] = res;
      (res as Peered<ServerResponse, IncomingMessage>)[kPeer] = src;
      src.once('error', onVendorBodyError);
      res.once('close', onCallerClose);
      src.pipe(res);
      return;
    }
    if (r.outcome === 'timeout') this.refuse(res, route, 'vendor-timeout', level, 504);
    else this.refuse(res, route, 'vendor-unavailable', level, 502);
  }

  /** Keeps the first answer under the key; a send that no vendor took frees it for a retry. */
  private settleClaim(route: EgressRoute, key: string, r: Send): void {
    const dedup = route.compiled.dedup;
    if (!dedup) return;
    if ((r.outcome === 'success' || r.outcome === 'caller') && r.res) {
      this.dedup.complete(route.name, key, r.res.statusCode ?? 200, dedup.ttlSeconds);
    } else {
      this.dedup.release(route.name, key);
    }
  }

  private mayRetry(route: EgressRoute, method: string, hasKey: boolean): boolean {
    return route.vendorNames.length > 1 && route.compiled.pin === '' && isRetrySafe(method, hasKey);
  }

  private refuse(res: ServerResponse, route: EgressRoute, reason: Parameters<typeof reject>[3], level: number, status = 503): void {
    this.metrics.rejected.inc({ route: route.name, reason });
    reject(res, status, route.name, reason, level);
  }


  private forEachRate(fn: (route: string, vendor: string, rate: number | null) => void): void {
    const t = this.now();
    for (const r of this.routes.values()) r.vendorNames.forEach((v, i) => fn(r.name, v, r.failover.rate(i, t)));
  }
}

type Peered<T, P> = T & { [kPeer]: P };

function onVendorBodyError(this: Peered<IncomingMessage, ServerResponse>): void {
  this[kPeer].destroy();
}
/** The caller went away before the vendor's answer was through: stop reading it. */
function onCallerClose(this: Peered<ServerResponse, IncomingMessage>): void {
  if (!this[kPeer].complete) this[kPeer].destroy();
}

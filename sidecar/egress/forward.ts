/**
 * One caller's send on the usual path, holding its route permit (see admission/permit.ts) from
 * admission to the vendor's answer: dedup claim (when the route has dedup and the send a key) →
 * body (kept in memory only when a retry on another vendor may need it) → Send (vendor choice,
 * failover, timeouts: send.ts) → answer → end(outcome), the only release of the route's slot.
 * Synchronous up to the vendor request unless a claim (a Redis round trip) or a kept body must
 * be waited for.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { O_ABORTED, O_ERROR, O_SUCCESS, O_TIMEOUT, O_UPSTREAM_ERROR, outcomeName, type OutcomeCode } from '../admission/outcomes.js';
import { Permit } from '../admission/permit.js';
import { clientResponseHeaders } from '../proxy-headers.js';
import { refuse } from './admission.js';
import { MAX_BUFFERED_BODY, type EgressContext } from './context.js';
import { answerDuplicate, CLAIM_MARGIN_MS, settleClaim } from './duplicates.js';
import { callerBudgetMs, hasBody, headerValue, readBody, vendorRequestHeaders } from './http-util.js';
import type { EgressRoute } from './route.js';
import { Send, type SendOwner } from './send.js';

/** Links a vendor's answer and the caller's response while one is piped into the other. */
const kPeer = Symbol('peer');
type Peered<T, P> = T & { [kPeer]: P };

export class SendExchange extends Permit<EgressRoute> implements SendOwner {
  readonly key: string;
  /** When the caller's budget for the whole send runs out (ms, the context's clock). */
  readonly budgetEnd: number;
  claimed = false;
  /** The vendor's status once it answered. */
  status = 0;

  constructor(
    private readonly ctx: EgressContext,
    route: EgressRoute,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly path: string,
    readonly level: number,
  ) {
    super(route);
    this.key = headerValue(req.headers[route.keyHeader]);
    this.budgetEnd = this.start + (callerBudgetMs(req) ?? route.defaultBudgetMs);
  }

  protected forward(): void {
    try {
      if (this.key !== '' && this.budget.compiled.dedup) this.claimThenSend().catch(() => this.failed());
      else this.sendBody();
    } catch {
      this.failed();
    }
  }

  // Routes have no queue and no list timeout (a send is bounded by its budget and the vendors' timeouts): never called.
  protected refuseQueued(): void {}
  protected timedOut(): void {}

  protected override ended(outcome: OutcomeCode): void {
    const log = this.ctx.endLog;
    if (log !== null) log.ended(this.budget.name, outcomeName(outcome), this.status, this.req.method, this.req.url, this.level, this.ctx.now() - this.start);
  }

  /** The send ended (called by its Send once). */
  sent(s: Send): void {
    if (!this.active) {
      s.res?.destroy();
      return;
    }
    const route = this.budget;
    if (this.claimed) settleClaim(this.ctx, route, this.key, s);
    const src = s.res;
    const res = this.res;
    if (src === null) {
      if (s.outcome === 'timeout') {
        this.end(O_TIMEOUT);
        refuse(route, 'vendor-timeout', this.req, res, this.level);
      } else {
        this.end(O_UPSTREAM_ERROR);
        refuse(route, 'vendor-unavailable', this.req, res, this.level);
      }
      return;
    }
    const status = src.statusCode ?? 502;
    this.status = status;
    if (res.destroyed) {
      // The caller left while the vendor answered: read the answer off so the connection is reused
      // (a stall is still cut at the vendor's timeout).
      this.end(O_ABORTED);
      src.resume();
      return;
    }
    this.end(status >= 500 ? O_ERROR : O_SUCCESS);
    res.writeHead(status, src.statusMessage, clientResponseHeaders(src.rawHeaders));
    // pipe() rather than pipeline(): no abort-signal machinery per send on the hot path.
    (src as Peered<IncomingMessage, ServerResponse>)[kPeer] = res;
    (res as Peered<ServerResponse, IncomingMessage>)[kPeer] = src;
    src.once('error', onVendorBodyError);
    res.once('close', onCallerClose);
    src.pipe(res);
  }

  private async claimThenSend(): Promise<void> {
    const { budget: route, req, res, ctx } = this;
    const c = await ctx.dedup.claim(route.name, this.key, this.budgetEnd - ctx.now() + CLAIM_MARGIN_MS);
    if (c.kind === 'done' || c.kind === 'pending') {
      const status = c.kind === 'done' ? c.status : 409;
      this.status = status;
      this.end(O_SUCCESS);
      answerDuplicate(ctx, req, res, route, status);
      return;
    }
    if (c.kind === 'unavailable') {
      if (route.compiled.dedup?.onRedisDown === 'refuse') {
        this.end(O_ERROR);
        refuse(route, 'dedup-unavailable', req, res, this.level);
        return;
      }
      ctx.metrics.dedupBypassed.inc({ route: route.name });
    }
    this.claimed = c.kind === 'claimed';
    this.sendBody();
  }

  private sendBody(): void {
    const req = this.req;
    const retryable = this.budget.mayRetry(req.method ?? 'GET', this.key !== '');
    if (!hasBody(req)) this.startSend(null, retryable);
    else if (!retryable) this.startSend(req, false);
    else {
      readBody(req, MAX_BUFFERED_BODY)
        .then((body) => {
          if (body !== null) {
            this.startSend(body, true);
            return;
          }
          if (this.claimed) this.ctx.dedup.release(this.budget.name, this.key);
          this.status = 413;
          this.end(O_SUCCESS);
          refuse(this.budget, 'body-too-large', req, this.res, this.level);
        })
        .catch(() => this.failed());
    }
  }

  private startSend(body: Buffer | Readable | null, retryable: boolean): void {
    const req = this.req;
    const headers = vendorRequestHeaders(req.rawHeaders, Buffer.isBuffer(body) ? body.length : null);
    new Send(this.budget, req.method ?? 'GET', this.path, headers, body, retryable, this.budgetEnd, this.ctx.now, this).start();
  }

  /** Something broke before a vendor took the send (e.g. the caller vanished mid-body): the key is freed. */
  private failed(): void {
    if (!this.active) return;
    if (this.claimed) this.ctx.dedup.release(this.budget.name, this.key);
    this.end(O_UPSTREAM_ERROR);
    refuse(this.budget, 'vendor-unavailable', this.req, this.res, this.level);
  }
}

function onVendorBodyError(this: Peered<IncomingMessage, ServerResponse>): void {
  this[kPeer].destroy();
}
/** The caller went away before the vendor's answer was through: stop reading it. */
function onCallerClose(this: Peered<ServerResponse, IncomingMessage>): void {
  if (!this[kPeer].complete) this[kPeer].destroy();
}

/**
 * One caller's send on the usual path, holding its route permit (see admission/permit.ts) from
 * admission to the vendor's answer: dedup claim (when the route has dedup and the send a key) →
 * body (kept in memory only when a retry on another vendor may need it, else streamed with
 * back-pressure) → Send (vendor choice, failover, timeouts: send.ts) → answer relayed →
 * end(outcome), the only release of the route's slot. Synchronous up to the vendor request
 * unless a claim (a Redis round trip) or a kept body must be waited for. One object per send,
 * no closures: the engine's connection calls it as its Exchange, the send as its SendOwner.
 */
import type { Socket } from 'node:net';
import { O_ABORTED, O_ERROR, O_SUCCESS, O_TIMEOUT, O_UPSTREAM_ERROR, outcomeName, type OutcomeCode } from '../admission/outcomes.js';
import { Permit } from '../admission/permit.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, type RequestHead } from '../http1/head.js';
import { REFUSALS, type Exchange, type ServerConn } from '../http1/server.js';
import { refuse } from './admission.js';
import { KeptBody } from './body.js';
import { MAX_BUFFERED_BODY, type EgressContext } from './context.js';
import { answerDuplicate, CLAIM_MARGIN_MS, settleClaim } from './duplicates.js';
import { callerBudgetMs, fieldValue, vendorFields } from './http-util.js';
import type { EgressRoute } from './route.js';
import { Send, type SendOwner } from './send.js';
import { FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE, type VendorCall, type VendorRequest } from './vendor-client.js';

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** What the request body is doing: nothing (none, not yet, or all read), kept, or streamed to the vendor. */
const B_WAIT = 0;
const B_KEEP = 1;
const B_STREAM = 2;

export class SendExchange extends Permit<EgressRoute> implements Exchange, SendOwner {
  readonly key: string;
  /** When the caller's budget for the whole send runs out (ms, the context's clock). */
  readonly budgetEnd: number;
  claimed = false;
  /** The vendor's status once it answered. */
  status = 0;
  private send: Send | null = null;
  private kept: KeptBody | null = null;
  private bodyMode = B_WAIT;
  /** The answer's head went to the caller: a failure now can only cut the connection. */
  private responding = false;
  /** The caller's connection is gone. */
  private gone = false;

  constructor(
    private readonly ctx: EgressContext,
    route: EgressRoute,
    private readonly conn: ServerConn,
    private readonly head: RequestHead,
    readonly path: string,
    readonly level: number,
  ) {
    super(route);
    conn.bind(this);
    this.key = fieldValue(head, route.keyName);
    this.budgetEnd = this.start + (callerBudgetMs(head) ?? route.defaultBudgetMs);
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
    if (log !== null) log.ended(this.budget.name, outcomeName(outcome), this.status, this.head.method, this.head.target, this.level, this.ctx.now() - this.start);
  }

  private async claimThenSend(): Promise<void> {
    const { budget: route, ctx } = this;
    const c = await ctx.dedup.claim(route.name, this.key, this.budgetEnd - ctx.now() + CLAIM_MARGIN_MS);
    if (this.gone) {
      if (c.kind === 'claimed') ctx.dedup.release(route.name, this.key);
      return;
    }
    if (c.kind === 'done' || c.kind === 'pending') {
      const status = c.kind === 'done' ? c.status : 409;
      this.status = status;
      this.end(O_SUCCESS);
      answerDuplicate(ctx, this.conn, route, status);
      return;
    }
    if (c.kind === 'unavailable') {
      if (route.compiled.dedup?.onRedisDown === 'refuse') {
        this.end(O_ERROR);
        refuse(route, 'dedup-unavailable', this.conn, this.head, this.level);
        return;
      }
      ctx.metrics.dedupBypassed.inc({ route: route.name });
    }
    this.claimed = c.kind === 'claimed';
    this.sendBody();
  }

  private sendBody(): void {
    const head = this.head;
    const retryable = this.budget.mayRetry(head.method, this.key !== '');
    if (head.bodyKind === BODY_NONE) this.startSend(null, retryable);
    else if (!retryable) this.startSend(null, false);
    else if (head.bodyKind === BODY_LENGTH && head.contentLength > MAX_BUFFERED_BODY) this.tooLarge();
    else {
      this.bodyMode = B_KEEP;
      this.kept = new KeptBody(head.bodyKind === BODY_CHUNKED, MAX_BUFFERED_BODY);
      this.readBody();
    }
  }

  /** Lets the request body flow (answering 100-continue first when the caller waits for it). */
  private readBody(): void {
    const head = this.head;
    if (head.expectContinue && head.minor === 1) this.conn.socket.write(CONTINUE);
    this.conn.startBody();
  }

  /** @param body a kept body; null with a body on the request: stream it */
  private startSend(body: Buffer | null, retryable: boolean): void {
    const head = this.head;
    const streamed = body === null && head.bodyKind !== BODY_NONE;
    const req: VendorRequest = {
      method: head.method,
      path: this.path,
      fields: vendorFields(head),
      body,
      stream: !streamed ? FRAME_NONE : head.bodyKind === BODY_LENGTH ? FRAME_LENGTH : FRAME_CHUNKED,
      streamLength: head.contentLength,
      dechunk: head.minor === 0,
    };
    if (streamed) this.bodyMode = B_STREAM;
    const s = new Send(this.budget, req, retryable, this.budgetEnd, this.ctx.now, this);
    this.send = s;
    s.start();
  }

  sendReady(): void {
    if (this.bodyMode === B_STREAM && !this.gone) this.readBody();
  }

  requestBody(b: Buffer): boolean {
    if (this.bodyMode === B_STREAM) return (this.send as Send).write(b);
    const kept = this.kept as KeptBody;
    if (kept.add(b)) return true;
    // Only a chunked body gets here (a longer Content-Length is refused before reading): the
    // refusal closes the connection, so no next request is read while the engine is in this call.
    this.kept = null;
    this.bodyMode = B_WAIT;
    this.tooLarge();
    return true;
  }

  requestBodyEnd(): void {
    if (this.bodyMode === B_STREAM) {
      this.bodyMode = B_WAIT;
      (this.send as Send).end();
    } else if (this.bodyMode === B_KEEP) {
      const body = (this.kept as KeptBody).body;
      this.kept = null;
      this.bodyMode = B_WAIT;
      this.startSend(body, true);
    }
  }

  sendDrain(): void {
    this.conn.resumeBody();
  }

  /** The body's framing is invalid: nothing more goes to the vendor; 400 and close. */
  requestBodyInvalid(): void {
    this.kept = null;
    this.send?.abort();
    if (this.claimed && this.status === 0) this.ctx.dedup.release(this.budget.name, this.key);
    this.end(O_ABORTED);
    if (this.responding) this.conn.destroy();
    else this.conn.respond(REFUSALS[400], true);
  }

  /** The send ended (called by its Send once). */
  sent(s: Send): void {
    const route = this.budget;
    if (this.claimed) settleClaim(this.ctx, route, this.key, s);
    if (this.gone || !this.active) {
      // The caller left while the vendor answered: the answer is read off and dropped so the
      // connection is reused (a stall is still cut at the vendor's timeout).
      this.end(O_ABORTED);
      return;
    }
    if (!s.answered) {
      if (s.outcome === 'timeout') {
        this.end(O_TIMEOUT);
        this.refuse('vendor-timeout');
      } else {
        this.end(O_UPSTREAM_ERROR);
        this.refuse('vendor-unavailable');
      }
      return;
    }
    const status = s.status;
    this.status = status;
    this.end(status >= 500 ? O_ERROR : O_SUCCESS);
    const conn = this.conn;
    const call = s.call as VendorCall;
    if (call.closeDelimited) conn.closeAfter = true;
    const connection = conn.connectionFields();
    this.responding = true;
    const sock = conn.socket;
    // Head and the first body bytes leave in one write.
    sock.cork();
    process.nextTick(uncork, sock);
    sock.write(call.clientHead(connection));
  }

  answerBody(b: Buffer): boolean {
    return !this.responding || this.conn.socket.write(b);
  }

  answerEnd(): void {
    if (!this.responding) return;
    this.responding = false;
    this.conn.responseEnd();
  }

  answerFailed(): void {
    if (this.responding) this.conn.destroy();
  }

  clientDrain(): void {
    this.send?.resume();
  }

  /**
   * The caller went away. A send whose request is complete goes on (the vendor may act on it:
   * its answer settles the dedup claim, then is dropped); one still streaming the caller's body
   * is cut, its key freed.
   */
  clientClosed(): void {
    this.gone = true;
    const s = this.send;
    if (s !== null && (this.bodyMode === B_STREAM || this.responding)) {
      s.abort();
      if (this.claimed && !this.responding) this.ctx.dedup.release(this.budget.name, this.key);
      this.responding = false;
      this.end(O_ABORTED);
      return;
    }
    if (s === null) {
      // Before the send (a claim or a kept body on the way): nothing went to a vendor.
      this.kept = null;
      if (this.claimed) this.ctx.dedup.release(this.budget.name, this.key);
      this.end(O_ABORTED);
    }
  }

  private refuse(reason: 'vendor-timeout' | 'vendor-unavailable'): void {
    refuse(this.budget, reason, this.conn, this.head, this.level);
  }

  /** The kept body would pass MAX_BUFFERED_BODY: 413, the key freed. */
  private tooLarge(): void {
    if (this.claimed) this.ctx.dedup.release(this.budget.name, this.key);
    this.status = 413;
    this.end(O_SUCCESS);
    refuse(this.budget, 'body-too-large', this.conn, this.head, this.level);
  }

  /** Something broke before a vendor took the send: the key is freed. */
  private failed(): void {
    if (!this.active) return;
    if (this.claimed) this.ctx.dedup.release(this.budget.name, this.key);
    this.end(O_UPSTREAM_ERROR);
    if (!this.gone) this.refuse('vendor-unavailable');
  }
}

function uncork(s: Socket): void {
  s.uncork();
}

/**
 * A send its route refused (capacity or load level) on a route with `defer`: the body is read
 * (≤ MAX_BUFFERED_BODY) and handed to the Deferrer; the caller gets 202 once Kafka has it. A
 * key already sent or being sent is answered as a duplicate instead of being stored. It holds no
 * route permit (it was refused one); it is the connection's exchange while the body arrives.
 */
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, type RequestHead } from '../http1/head.js';
import { REFUSALS, type Exchange, type ServerConn } from '../http1/server.js';
import { answerJson, refuse } from './admission.js';
import { KeptBody } from './body.js';
import { MAX_BUFFERED_BODY, type EgressContext } from './context.js';
import type { DeferredSend, Deferrer } from './contracts.js';
import { answerDuplicate } from './duplicates.js';
import { fieldValue, storedFields } from './http-util.js';
import type { EgressRoute } from './route.js';

const EMPTY = Buffer.alloc(0);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

export class ShedExchange implements Exchange {
  private kept: KeptBody | null = null;
  private gone = false;

  constructor(
    private readonly ctx: EgressContext,
    private readonly deferrer: Deferrer,
    private readonly route: EgressRoute,
    private readonly conn: ServerConn,
    private readonly head: RequestHead,
    private readonly path: string,
    private readonly level: number,
  ) {
    conn.bind(this);
  }

  start(): void {
    const head = this.head;
    if (head.bodyKind === BODY_NONE) {
      this.stored(EMPTY);
      return;
    }
    if (head.bodyKind === BODY_LENGTH && head.contentLength > MAX_BUFFERED_BODY) {
      refuse(this.route, 'body-too-large', this.conn, head, this.level);
      return;
    }
    this.kept = new KeptBody(head.bodyKind === BODY_CHUNKED, MAX_BUFFERED_BODY);
    if (head.expectContinue && head.minor === 1) this.conn.socket.write(CONTINUE);
    this.conn.startBody();
  }

  requestBody(b: Buffer): boolean {
    const kept = this.kept;
    if (kept === null || kept.add(b)) return true;
    // Only a chunked body gets here (see SendExchange.requestBody): the refusal closes the connection.
    this.kept = null;
    refuse(this.route, 'body-too-large', this.conn, this.head, this.level);
    return true;
  }

  requestBodyEnd(): void {
    const kept = this.kept;
    if (kept === null) return;
    this.kept = null;
    this.stored(kept.body);
  }

  requestBodyInvalid(): void {
    this.kept = null;
    this.conn.respond(REFUSALS[400], true);
  }

  clientClosed(): void {
    this.gone = true;
    this.kept = null;
  }

  clientDrain(): void {}

  private stored(body: Buffer): void {
    this.defer(body).catch(() => {
      if (!this.gone) refuse(this.route, 'defer-unavailable', this.conn, this.head, this.level);
    });
  }

  private async defer(body: Buffer): Promise<void> {
    const { ctx, route, head } = this;
    const key = fieldValue(head, route.keyName);
    if (key !== '' && route.compiled.dedup) {
      const c = await ctx.dedup.peek(route.name, key);
      if (c.kind === 'done' || c.kind === 'pending') {
        if (!this.gone) answerDuplicate(ctx, this.conn, route, c.kind === 'done' ? c.status : 409);
        return;
      }
    }
    const send: DeferredSend = {
      route: route.name,
      method: head.method,
      path: this.path,
      headers: storedFields(head),
      body,
      key,
      firstSeenMs: ctx.now(),
      attempts: 0,
    };
    try {
      await this.deferrer.defer(send);
    } catch {
      if (!this.gone) refuse(route, 'defer-unavailable', this.conn, head, this.level);
      return;
    }
    if (!this.gone) answerJson(this.conn, 202, `x-spillway-deferred: true\r\nx-spillway-class: ${route.name}\r\n`, '{"deferred":true}');
  }
}

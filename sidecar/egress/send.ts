/**
 * One send through a route: to the vendor failover picks, and on a vendor failure again on the
 * next healthy vendor when that is allowed (retry-safe request with a replayable body) and the
 * caller's budget has time left. Each attempt's timeout is the vendor's, cut to what is left;
 * the timeout covers the whole exchange (a vendor that answers the headers and then stalls is
 * cut too).
 *
 * Built like the inbound proxy's exchange: the send is an object whose listeners are shared
 * module functions that find it through a symbol (no closures, promises or timers per send on
 * the usual path), and it tells its owner once, through sent(), how it ended.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { DeadlineEntry } from '../deadline-list.js';
import { classifyError, classifyStatus, OUTCOME_INDEX, type AttemptOutcome } from './outcome.js';
import type { EgressRoute } from './route.js';
import type { TimedAttempt, VendorTarget } from './vendor-client.js';

/** Below this much budget left, a retry could not get an answer anyway. */
const MIN_RETRY_BUDGET_MS = 10;
const TIMED_OUT = new Error('vendor timeout');
const kSend = Symbol('send');

type Tagged<T> = T & { [kSend]: Send };

export interface SendOwner {
  /** The send ended: `outcome`, `res` (a vendor's answer, body not yet read) and `vendor` are final. */
  sent(send: Send): void;
}

export class Send implements TimedAttempt {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlOwner: object | null = null;
  deadline = 0;
  outcome: AttemptOutcome = 'error';
  /** The vendor's response when one answered. */
  res: IncomingMessage | null = null;
  /** Index of the vendor of the last attempt. */
  vendor = -1;
  private tried = 0;
  private upReq: ClientRequest | null = null;
  private target: VendorTarget | null = null;
  /** Only for an attempt whose timeout the caller's budget cut short (it does not fit the vendor's FIFO). */
  private timer: NodeJS.Timeout | null = null;
  private cut = false;
  /** The current attempt has neither answered nor failed yet. */
  private waiting = false;

  /**
   * @param headers flat name/value array ending in a `host` pair (see VendorTarget.start)
   * @param body a Buffer when the send may be retried, else the caller's stream or null
   */
  constructor(
    private readonly route: EgressRoute,
    private readonly method: string,
    private readonly path: string,
    private readonly headers: string[],
    private readonly body: Buffer | Readable | null,
    private readonly retryable: boolean,
    private readonly deadlineMs: number,
    private readonly now: () => number,
    private readonly owner: SendOwner,
  ) {}

  start(): void {
    this.attempt(this.route.failover.pick(this.now()));
  }

  timedOut(): void {
    this.timer = null;
    this.upReq?.destroy(TIMED_OUT);
    if (this.waiting) this.settle('timeout', null);
  }

  private attempt(v: number): void {
    const target = this.route.targets[v];
    const t = this.now();
    const left = this.deadlineMs - t;
    this.vendor = v;
    this.target = target;
    this.cut = left < target.timeoutMs;
    const req = target.start(this.method, this.path, this.headers);
    (req as Tagged<ClientRequest>)[kSend] = this;
    req.on('response', onResponse);
    req.on('error', onError);
    this.upReq = req;
    this.waiting = true;
    if (this.cut) this.timer = setTimeout(onTimer, Math.max(1, left), this);
    else target.timeouts.push(this, t + target.timeoutMs);
    const body = this.body;
    if (body === null) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  }

  responded(req: ClientRequest, res: IncomingMessage): void {
    if (req !== this.upReq || !this.waiting) {
      res.resume();
      return;
    }
    (res as Tagged<IncomingMessage>)[kSend] = this;
    res.once('close', onResponseClose);
    this.settle(classifyStatus(res.statusCode ?? 502, this.route.compiled.countClientErrors), res);
  }

  failed(req: ClientRequest, err: NodeJS.ErrnoException): void {
    if (req !== this.upReq || !this.waiting) return;
    this.stopTimer();
    this.settle(classifyError(err.code), null);
  }

  /** The answer's body ended (or broke off): its attempt is over. */
  responseClosed(res: IncomingMessage): void {
    if (res === this.res) this.stopTimer();
  }

  private settle(outcome: AttemptOutcome, res: IncomingMessage | null): void {
    this.waiting = false;
    const v = this.vendor;
    const route = this.route;
    const f = route.failover;
    const t = this.now();
    route.counts[v][OUTCOME_INDEX[outcome]]++;
    // A timeout cut short by the caller's budget says nothing about the vendor.
    if (outcome !== 'timeout' || !this.cut) f.record(v, outcome, t);
    this.outcome = outcome;
    this.res = res;
    if (outcome !== 'success' && outcome !== 'caller') {
      this.tried |= 1 << v;
      const next = this.retryable && this.deadlineMs - t > MIN_RETRY_BUDGET_MS ? f.retryVendor(this.tried, t) : -1;
      if (next >= 0) {
        // The failed answer is dropped with its connection: its body may never end.
        this.stopTimer();
        res?.destroy();
        this.res = null;
        this.attempt(next);
        return;
      }
    }
    this.owner.sent(this);
  }

  private stopTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    } else this.target?.timeouts.remove(this);
  }
}

/** A send not on the usual path (the deferral drainer's replays): resolves with the ended send. */
export function sendOnce(
  route: EgressRoute,
  method: string,
  path: string,
  headers: string[],
  body: Buffer | null,
  retryable: boolean,
  deadlineMs: number,
  now: () => number,
): Promise<Send> {
  return new Promise((resolve) => new Send(route, method, path, headers, body, retryable, deadlineMs, now, { sent: resolve }).start());
}

function onResponse(this: Tagged<ClientRequest>, res: IncomingMessage): void {
  this[kSend].responded(this, res);
}
function onError(this: Tagged<ClientRequest>, err: NodeJS.ErrnoException): void {
  this[kSend].failed(this, err);
}
function onResponseClose(this: Tagged<IncomingMessage>): void {
  this[kSend].responseClosed(this);
}
function onTimer(send: Send): void {
  send.timedOut();
}

/**
 * One send through a route: to the vendor failover picks, and on a vendor failure again on the
 * next healthy vendor when that is allowed (retry-safe request with a kept body) and the
 * caller's budget has time left. Each attempt's timeout is the vendor's, cut to what is left;
 * the timeout covers the whole exchange (a vendor that answers the head and then stalls is cut
 * too). The attempts go through the vendor client interface (vendor-client.ts), whatever the
 * scheme.
 *
 * The send is the attempt's listener and its timeout entry (no closures, promises or timers per
 * send on the usual path); it tells its owner once, through sent(), how it ended, then relays
 * the answer's body to it.
 */
import type { DeadlineEntry } from '../deadline-list.js';
import { classifyError, classifyStatus, OUTCOME_INDEX, type AttemptOutcome } from './outcome.js';
import type { EgressRoute } from './route.js';
import { FRAME_NONE, type TimedAttempt, type VendorCall, type VendorListener, type VendorRequest, type VendorTarget } from './vendor-client.js';

/** Below this much budget left, a retry could not get an answer anyway. */
const MIN_RETRY_BUDGET_MS = 10;

export interface SendOwner {
  /** The send ended: `outcome`, `status` and `vendor` are final; `answered`: a head is here and its body follows. */
  sent(send: Send): void;
  /** A streamed request body may be written (the attempt got its connection). */
  sendReady(): void;
  /** The streamed request body may flow again. */
  sendDrain(): void;
  /** Answer body bytes, framed for the caller; false: pause (resume() when it may flow). */
  answerBody(b: Buffer): boolean;
  answerEnd(): void;
  /** The answer broke off (vendor gone or timed out mid-body). */
  answerFailed(): void;
}

const S_WAITING = 0;
const S_RELAYING = 1;
const S_DONE = 2;

export class Send implements TimedAttempt, VendorListener {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlOwner: object | null = null;
  deadline = 0;
  outcome: AttemptOutcome = 'error';
  /** The vendor's status when one answered (0: none). */
  status = 0;
  /** Index of the vendor of the last attempt. */
  vendor = -1;
  /** The attempt whose answer is relayed (after sent() with answered). */
  call: VendorCall | null = null;
  private state = S_WAITING;
  private tried = 0;
  private target: VendorTarget | null = null;
  /** Only for an attempt whose timeout the caller's budget cut short (it does not fit the vendor's FIFO). */
  private timer: NodeJS.Timeout | null = null;
  private cut = false;

  /** @param req a kept body (or none) when the send may be retried; a streamed one never is */
  constructor(
    private readonly route: EgressRoute,
    private readonly req: VendorRequest,
    private readonly retryable: boolean,
    private readonly deadlineMs: number,
    private readonly now: () => number,
    private readonly owner: SendOwner,
  ) {}

  get answered(): boolean {
    return this.state === S_RELAYING;
  }

  start(): void {
    this.attempt(this.route.failover.pick(this.now()));
  }

  /** Streamed request body bytes for the current attempt. */
  write(b: Buffer): boolean {
    return this.call === null || this.call.write(b);
  }

  /** The streamed request body is complete. */
  end(): void {
    this.call?.end();
  }

  resume(): void {
    this.call?.resume();
  }

  /** The owner gives up (the caller left mid-body, or its answer is no longer wanted). */
  abort(): void {
    this.stopTimer();
    this.state = S_DONE;
    const c = this.call;
    this.call = null;
    c?.abort();
  }

  timedOut(): void {
    this.timer = null;
    const state = this.state;
    if (state === S_DONE) return;
    this.call?.abort();
    if (state === S_WAITING) this.settle('timeout');
    else {
      this.state = S_DONE;
      this.call = null;
      this.owner.answerFailed();
    }
  }

  private attempt(v: number): void {
    const target = this.route.targets[v];
    const t = this.now();
    const left = this.deadlineMs - t;
    this.vendor = v;
    this.target = target;
    this.cut = left < target.timeoutMs;
    this.state = S_WAITING;
    if (this.cut) this.timer = setTimeout(onTimer, Math.max(1, left), this);
    else target.timeouts.push(this, t + target.timeoutMs);
    let call: VendorCall;
    try {
      call = target.start(this.req, this);
    } catch {
      // node:https checks what it is given at once (a field it will not send): no vendor took it.
      this.stopTimer();
      this.settle('error');
      return;
    }
    this.call = call;
    // A streamed body is never retried, so this is its only attempt.
    if (this.req.stream !== FRAME_NONE && call.ready) this.owner.sendReady();
  }

  vendorReady(): void {
    if (this.state === S_WAITING) this.owner.sendReady();
  }

  vendorDrain(): void {
    if (this.state !== S_DONE) this.owner.sendDrain();
  }

  vendorHead(status: number): void {
    if (this.state !== S_WAITING) return;
    this.status = status;
    this.settle(classifyStatus(status, this.route.compiled.countClientErrors));
  }

  vendorBody(b: Buffer): boolean {
    return this.state !== S_RELAYING || this.owner.answerBody(b);
  }

  vendorEnd(): void {
    if (this.state !== S_RELAYING) return;
    this.stopTimer();
    this.state = S_DONE;
    this.call = null;
    this.owner.answerEnd();
  }

  vendorFailed(code: string | undefined): void {
    const state = this.state;
    if (state === S_DONE) return;
    this.stopTimer();
    if (state === S_WAITING) {
      this.call = null;
      this.settle(classifyError(code));
      return;
    }
    this.state = S_DONE;
    this.call = null;
    this.owner.answerFailed();
  }

  private settle(outcome: AttemptOutcome): void {
    const v = this.vendor;
    const route = this.route;
    const f = route.failover;
    const t = this.now();
    const answered = outcome === 'success' || outcome === 'caller' || outcome === 'failure';
    route.counts[v][OUTCOME_INDEX[outcome]]++;
    // A timeout cut short by the caller's budget says nothing about the vendor.
    if (outcome !== 'timeout' || !this.cut) f.record(v, outcome, t);
    this.outcome = outcome;
    if (outcome !== 'success' && outcome !== 'caller') {
      this.tried |= 1 << v;
      const next = this.retryable && this.deadlineMs - t > MIN_RETRY_BUDGET_MS ? f.retryVendor(this.tried, t) : -1;
      if (next >= 0) {
        // The failed answer is dropped with its connection: its body may never end.
        this.stopTimer();
        this.call?.abort();
        this.call = null;
        this.status = 0;
        this.attempt(next);
        return;
      }
    }
    if (answered) this.state = S_RELAYING;
    else {
      this.state = S_DONE;
      this.call = null;
      this.status = 0;
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

/** The owner of a send not on the usual path (the deferral drainer's replays): the answer's body is read off and dropped. */
class Settled implements SendOwner {
  constructor(private readonly resolve: (s: Send) => void) {}
  sent(send: Send): void {
    this.resolve(send);
  }
  sendReady(): void {}
  sendDrain(): void {}
  answerBody(): boolean {
    return true;
  }
  answerEnd(): void {}
  answerFailed(): void {}
}

/** A send not on the usual path (the deferral drainer's replays): resolves with the ended send. */
export function sendOnce(route: EgressRoute, req: VendorRequest, retryable: boolean, deadlineMs: number, now: () => number): Promise<Send> {
  return new Promise((resolve) => new Send(route, req, retryable, deadlineMs, now, new Settled(resolve)).start());
}

function onTimer(send: Send): void {
  send.timedOut();
}

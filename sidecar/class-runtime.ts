/**
 * The live state of one request class: its budget and queue, its in-flight timeouts, its
 * precomputed refusals and its counters. Kept by class name across config changes and updated
 * in place, so admitted work keeps its slot and new requests see new limits at once; a class
 * removed from the config drains because its requests still hold this object.
 */
import type { CompiledClass } from '../api/config.js';
import type { AccessLog } from './admission/access-log.js';
import { FairFlows } from './admission/fair-flows.js';
import { GradientLimit } from './admission/gradient-limit.js';
import { INBOUND_REFUSALS, O_ERROR, O_SUCCESS, O_TIMEOUT, SHADOW_OUTCOMES, type InboundRefusal, type OutcomeCode } from './admission/outcomes.js';
import { HOLDS_SLOT, type Budget, type Permit } from './admission/permit.js';
import { Refusals } from './admission/refusals.js';
import { PodLoad, ShadowState, type ShadowClass } from './admission/shadow.js';
import { DeadlineList } from './deadline-list.js';
import { Limiter } from './limiter.js';
import type { DurationCounts } from './inbound-metrics.js';

/** The fields of a compiled class the data plane enforces. */
export type ClassSettings = Pick<
  CompiledClass,
  'name' | 'priority' | 'queue' | 'shedAtLevel' | 'timeoutMs' | 'rejectStatus' | 'affectsLoadLevel'
> &
  Partial<Pick<CompiledClass, 'borrowMax' | 'adaptive' | 'fairness' | 'shadow'>>;

export class ClassRuntime implements Budget, ShadowClass {
  readonly name: string;
  priority = 0;
  /** Per-pod limit before warm-up scaling. */
  baseLimit = 1;
  shedAtLevel = Infinity;
  timeoutMs = 0;
  affectsLoadLevel = true;
  readonly limiter: Limiter;
  readonly timeouts: DeadlineList<Permit>;
  refusals: Refusals<InboundRefusal>;
  /** Counts by outcome (OUTCOMES index); cumulative for the process, read by the metrics. */
  readonly outcomes: Float64Array;
  readonly duration: DurationCounts;
  readonly now: () => number;
  /** Shadow mode: nothing refused or queued; shadowState decides what Enforce would have done. */
  shadow = false;
  /** Would-be outcomes of Shadow, by SHADOW_OUTCOMES index; cumulative, shared like `outcomes`. */
  readonly shadowCounts: Float64Array;
  /** The would-be copy, from the first time the class is in Shadow (kept after, for its running requests). */
  shadowState: ShadowState | null = null;
  /** The pod's classes, for Shadow's concurrency sums. */
  readonly pod: PodLoad;
  /** The adaptive limit's controller; null: the limit is the static one. */
  adaptive: GradientLimit | null = null;
  /** Fairness: the header naming a request's flow (lower case, as bytes), or null for the client address. */
  flowHeaderBytes: Uint8Array | null = null;

  constructor(
    settings: ClassSettings,
    limit: number,
    now: () => number,
    outcomes: Float64Array,
    duration: DurationCounts,
    private readonly accessLog: AccessLog | null = null,
    shadowCounts: Float64Array = new Float64Array(SHADOW_OUTCOMES.length),
    pod?: PodLoad,
  ) {
    this.shadowCounts = shadowCounts;
    if (pod === undefined) {
      // On its own (tests): the pod is this class.
      const alone = [this];
      pod = new PodLoad(() => alone);
    }
    this.pod = pod;
    this.name = settings.name;
    this.now = now;
    this.limiter = new Limiter({ limit, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs }, now);
    this.timeouts = new DeadlineList<Permit>(now, expirePermit);
    this.outcomes = outcomes;
    this.duration = duration;
    this.refusals = new Refusals(settings.name, settings.rejectStatus, INBOUND_REFUSALS, this.accessLog);
    this.update(settings, limit, limit);
  }

  /**
   * New settings from a config; `limit` is the enforced one (warm-up applied), `baseLimit` the
   * per-pod one. An adaptive class keeps its learnt limit across config changes: the static
   * limit is only its starting point.
   */
  update(settings: ClassSettings, baseLimit: number, limit: number): void {
    this.priority = settings.priority;
    if (settings.adaptive === undefined) this.adaptive = null;
    else if (this.adaptive === null) this.adaptive = new GradientLimit(settings.adaptive, baseLimit);
    else this.adaptive.setBounds(settings.adaptive);
    if (this.adaptive !== null) {
      const learnt = this.adaptive.limit;
      limit = limit >= baseLimit ? learnt : Math.max(1, Math.ceil((learnt * limit) / baseLimit));
      baseLimit = learnt;
    }
    this.baseLimit = baseLimit;
    this.shadow = settings.shadow === true;
    if (this.shadow) {
      if (this.shadowState === null) this.shadowState = new ShadowState(this, this.pod, this.shadowCounts);
      else this.shadowState.enabled = true;
    } else if (this.shadowState !== null && this.shadowState.enabled) this.shadowState.disable();
    this.limiter.borrowMax = settings.borrowMax ?? 0;
    const fairness = settings.fairness;
    if (fairness === undefined) this.limiter.fair = null;
    else {
      // Waiters queued before fairness was switched on are FIFO-only: they are admitted in order or time out.
      if (this.limiter.fair === null) this.limiter.fair = new FairFlows();
      this.flowHeaderBytes = 'header' in fairness ? Buffer.from(fairness.header, 'latin1') : null;
    }
    this.shedAtLevel = settings.shedAtLevel ?? Infinity;
    this.timeoutMs = settings.timeoutMs ?? 0;
    this.affectsLoadLevel = settings.affectsLoadLevel;
    if (settings.rejectStatus !== this.refusals.rejectStatus) {
      this.refusals = new Refusals(settings.name, settings.rejectStatus, INBOUND_REFUSALS, this.accessLog);
    }
    this.limiter.update({ limit, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs });
  }

  released(p: Permit, durationMs: number, outcome: OutcomeCode): void {
    this.duration.observe(durationMs / 1000);
    // Latency of the upstream's own answers: refusals and aborts say nothing about it.
    const answered = outcome === O_SUCCESS || outcome === O_ERROR || outcome === O_TIMEOUT;
    if (p.slot !== HOLDS_SLOT) {
      // Shadow: a timed-out request's latency is only a lower bound, so the model skips it.
      (this.shadowState as ShadowState).left(p, durationMs, outcome !== O_TIMEOUT && answered, this.now());
      return;
    }
    const a = this.adaptive;
    if (a !== null && answered) {
      const now = this.now();
      if (a.sample(now - p.admittedAt, this.limiter.inflight, now)) this.adapted(a.limit);
    }
    this.limiter.release();
  }

  /** Shadow: a would-be slot was given back; an adaptive limit learns the would-be latency, as Enforce's would the real one. */
  wouldBeEnded(latencyMs: number, now: number): void {
    const a = this.adaptive;
    if (a !== null && a.sample(latencyMs, this.limiter.inflight, now)) this.adapted(a.limit);
  }

  /** The adaptive limit moved (a warm-up in progress rescales it at its next step). */
  private adapted(limit: number): void {
    this.baseLimit = limit;
    this.limiter.setLimit(limit);
  }

  dispose(): void {
    this.limiter.dispose();
    this.timeouts.dispose();
  }
}

function expirePermit(p: Permit): void {
  p.upstreamTimedOut();
}

/**
 * The live state of one request class: its budget and queue, its in-flight timeouts, its
 * precomputed refusals and its counters. Kept by class name across config changes and updated
 * in place, so admitted work keeps its slot and new requests see new limits at once; a class
 * removed from the config drains because its requests still hold this object.
 */
import type { CompiledClass } from '../api/config.js';
import type { AccessLog } from './admission/access-log.js';
import { INBOUND_REFUSALS, type InboundRefusal } from './admission/outcomes.js';
import type { Budget, Permit } from './admission/permit.js';
import { Refusals } from './admission/refusals.js';
import { DeadlineList } from './deadline-list.js';
import { Limiter } from './limiter.js';
import type { DurationCounts } from './inbound-metrics.js';

/** The fields of a compiled class the data plane enforces. */
export type ClassSettings = Pick<
  CompiledClass,
  'name' | 'priority' | 'queue' | 'shedAtLevel' | 'timeoutMs' | 'rejectStatus' | 'affectsLoadLevel'
>;

export class ClassRuntime implements Budget {
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

  constructor(
    settings: ClassSettings,
    limit: number,
    now: () => number,
    outcomes: Float64Array,
    duration: DurationCounts,
    private readonly accessLog: AccessLog | null = null,
  ) {
    this.name = settings.name;
    this.now = now;
    this.limiter = new Limiter({ limit, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs }, now);
    this.timeouts = new DeadlineList<Permit>(now, expirePermit);
    this.outcomes = outcomes;
    this.duration = duration;
    this.refusals = new Refusals(settings.name, settings.rejectStatus, INBOUND_REFUSALS, this.accessLog);
    this.update(settings, limit, limit);
  }

  /** New settings from a config; `limit` is the enforced one (warm-up applied), `baseLimit` the per-pod one. */
  update(settings: ClassSettings, baseLimit: number, limit: number): void {
    this.priority = settings.priority;
    this.baseLimit = baseLimit;
    this.shedAtLevel = settings.shedAtLevel ?? Infinity;
    this.timeoutMs = settings.timeoutMs ?? 0;
    this.affectsLoadLevel = settings.affectsLoadLevel;
    if (settings.rejectStatus !== this.refusals.rejectStatus) {
      this.refusals = new Refusals(settings.name, settings.rejectStatus, INBOUND_REFUSALS, this.accessLog);
    }
    this.limiter.update({ limit, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs });
  }

  released(_p: Permit, durationMs: number): void {
    this.duration.observe(durationMs / 1000);
    this.limiter.release();
  }

  dispose(): void {
    this.limiter.dispose();
    this.timeouts.dispose();
  }
}

function expirePermit(p: Permit): void {
  p.upstreamTimedOut();
}

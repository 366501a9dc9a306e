/**
 * The live state of one request class: its budget and queue, its in-flight timeouts, its
 * precomputed refusals and its counters. Kept by class name across config changes and updated
 * in place, so admitted work keeps its slot and new requests see new limits at once; a class
 * removed from the config drains because its requests still hold this object.
 */
import type { CompiledClass } from '../api/config.js';
import { DeadlineList, type DeadlineEntry } from './deadline-list.js';
import { Limiter } from './limiter.js';
import type { DurationCounts } from './inbound-metrics.js';
import { ClassResponses } from './reject.js';

/** Outcome label values of spillway_requests_total, indexed by the constants below. */
export const OUTCOMES = ['success', 'error', 'upstream-error', 'timeout', 'aborted', 'capacity', 'load-level', 'queue-timeout'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export const O_SUCCESS = 0;
export const O_ERROR = 1;
export const O_UPSTREAM_ERROR = 2;
export const O_TIMEOUT = 3;
export const O_ABORTED = 4;
export const O_CAPACITY = 5;
export const O_LOAD_LEVEL = 6;
export const O_QUEUE_TIMEOUT = 7;

/** What the in-flight timeout list calls when a request's class timeoutMs has passed. */
export interface TimedRequest extends DeadlineEntry {
  upstreamTimedOut(): void;
}

/** The fields of a compiled class the data plane enforces. */
export type ClassSettings = Pick<
  CompiledClass,
  'name' | 'priority' | 'queue' | 'shedAtLevel' | 'timeoutMs' | 'rejectStatus' | 'affectsLoadLevel'
>;

export class ClassRuntime {
  readonly name: string;
  priority = 0;
  /** Per-pod limit before warm-up scaling. */
  baseLimit = 1;
  /** Refused with load-level while the level is ≥ this; Infinity: never. */
  shedAtLevel = Infinity;
  /** Upstream timeout in ms; 0: none. */
  timeoutMs = 0;
  affectsLoadLevel = true;
  rejectStatus = 503;
  readonly limiter: Limiter;
  /** In-flight requests with a timeout, oldest first. */
  readonly timeouts: DeadlineList<TimedRequest>;
  responses: ClassResponses;
  /** Counts by outcome (OUTCOMES index); cumulative for the process, read by the metrics. */
  readonly counts: Float64Array;
  readonly duration: DurationCounts;

  constructor(
    settings: ClassSettings,
    limit: number,
    now: () => number,
    counts: Float64Array,
    duration: DurationCounts,
  ) {
    this.name = settings.name;
    this.limiter = new Limiter({ limit, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs }, now);
    this.timeouts = new DeadlineList<TimedRequest>(now, expireRequest);
    this.counts = counts;
    this.duration = duration;
    this.rejectStatus = settings.rejectStatus;
    this.responses = new ClassResponses(settings.name, settings.rejectStatus);
    this.update(settings, limit, limit);
  }

  /** New settings from a config; `limit` is the enforced one (warm-up applied), `baseLimit` the per-pod one. */
  update(settings: ClassSettings, baseLimit: number, limit: number): void {
    this.priority = settings.priority;
    this.baseLimit = baseLimit;
    this.shedAtLevel = settings.shedAtLevel ?? Infinity;
    this.timeoutMs = settings.timeoutMs ?? 0;
    this.affectsLoadLevel = settings.affectsLoadLevel;
    if (settings.rejectStatus !== this.rejectStatus) {
      this.rejectStatus = settings.rejectStatus;
      this.responses = new ClassResponses(settings.name, settings.rejectStatus);
    }
    this.limiter.update({ limit, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs });
  }

  /** A request of the class ended: counts its outcome and duration and gives its slot back. */
  ended(r: TimedRequest, outcome: number, durationMs: number): void {
    this.counts[outcome]++;
    this.timeouts.remove(r);
    this.duration.observe(durationMs / 1000);
    this.limiter.release();
  }

  dispose(): void {
    this.limiter.dispose();
    this.timeouts.dispose();
  }
}

function expireRequest(r: TimedRequest): void {
  r.upstreamTimedOut();
}

/**
 * The inbound data plane's metrics (contract names). The hot path only bumps plain numbers in
 * class state; prom-client reads them in collect() callbacks at scrape time. The duration
 * histogram is our own small metric object for the same reason: prom-client's observe() builds
 * a label hash and validates labels on every call.
 */
import { Counter, Gauge, type Metric, type MetricValue, type Registry } from 'prom-client';
import { OUTCOMES, SHADOW_OUTCOMES } from './admission/outcomes.js';
import type { ClassRuntime } from './class-runtime.js';

export interface InboundMetricsSource {
  /** The classes in force (or the unconfigured pass-through class). */
  classes(): Iterable<ClassRuntime>;
  loadLevel(): number;
  utilisation(): number;
  sessions(): number;
}

/** Seconds; long-polls are held up to ~25-35 s. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One class's request durations: cumulative per-bucket counts are computed at scrape time. */
export class DurationCounts {
  /** buckets[i]: observations ≤ DURATION_BUCKETS[i] and > the bound before; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.buckets[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** spillway_request_duration_seconds{class}, shaped as prom-client expects a registered metric. */
class DurationHistogram {
  readonly name = 'spillway_request_duration_seconds';
  readonly help = 'Time from arrival to the end of the response for admitted requests (queueing included).';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly byClass: Map<string, DurationCounts>) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue<string>[] } {
    const values: MetricValue<string>[] = [];
    for (const [cls, d] of this.byClass) {
      let cumulative = 0;
      for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
        cumulative += d.buckets[i];
        const le = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i] : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { le, class: cls }, value: cumulative } as MetricValue<string>);
      }
      values.push({ metricName: `${this.name}_sum`, labels: { class: cls }, value: d.sum } as MetricValue<string>);
      values.push({ metricName: `${this.name}_count`, labels: { class: cls }, value: d.count } as MetricValue<string>);
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const d of this.byClass.values()) {
      d.buckets.fill(0);
      d.sum = 0;
      d.count = 0;
    }
  }
}

export class InboundMetrics {
  /** Outcome counts per class name, kept for the life of the process so counters never go back. */
  private readonly counts = new Map<string, Float64Array>();
  private readonly durations = new Map<string, DurationCounts>();
  private readonly shadowCounts = new Map<string, Float64Array>();

  constructor(registry: Registry, source: InboundMetricsSource) {
    const counts = this.counts;
    const shadowCounts = this.shadowCounts;
    const registers = [registry];
    new Counter({
      name: 'spillway_shadow_requests_total',
      help: 'Requests a class in Shadow mode let through that Enforce would have refused (capacity, load-level, queue-timeout) or made wait (queued), by class.',
      labelNames: ['class', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [name, c] of shadowCounts) for (let i = 0; i < SHADOW_OUTCOMES.length; i++) this.labels(name, SHADOW_OUTCOMES[i]).inc(c[i]);
      },
    });
    new Counter({
      name: 'spillway_requests_total',
      help: 'Inbound requests by class and outcome (success, error, upstream-error, timeout, aborted, or a refusal reason).',
      labelNames: ['class', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [name, c] of counts) for (let i = 0; i < OUTCOMES.length; i++) this.labels(name, OUTCOMES[i]).inc(c[i]);
      },
    });
    const perClass = (name: string, help: string, read: (c: ClassRuntime) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['class'],
        registers,
        collect() {
          this.reset();
          for (const c of source.classes()) this.labels(c.name).set(read(c));
        },
      });
    perClass('spillway_inflight', 'Requests of the class being served by the upstream (Shadow: that Enforce would have in flight).', (c) => c.limiter.inflight);
    perClass(
      'spillway_limit',
      'Concurrency limit the class has in this pod now (Cluster share, warm-up and the adaptive limit applied).',
      (c) => c.limiter.limit,
    );
    perClass('spillway_borrowed', 'In-flight requests of the class beyond its own limit, on slots other classes lent (concurrency.borrow).', (c) => c.limiter.borrowed);
    perClass('spillway_class_shadow', '1 while the class is in Shadow mode (nothing refused or queued), else 0.', (c) => (c.shadow ? 1 : 0));
    perClass('spillway_queue_length', 'Requests of the class waiting for a slot (Shadow: that would be waiting).', (c) =>
      c.shadow && c.shadowState !== null ? c.shadowState.queued : c.limiter.queued,
    );
    // Lets alerts and dashboards tell an important class from one meant to be shed (a join on class).
    perClass('spillway_class_priority', "The class's priority in the config in force (higher gets freed capacity first).", (c) => c.priority);
    const single = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    single('spillway_load_level', 'Pod load level 0..3.', () => source.loadLevel());
    single('spillway_utilisation_ratio', 'In-flight over limits of the classes that affect the load level (1 = full).', () => source.utilisation());
    single('spillway_sessions', 'Established WebSocket sessions (they hold no request slot).', () => source.sessions());
    registry.registerMetric(new DurationHistogram(this.durations) as unknown as Metric);
  }

  /** The duration counts of a class name (created once, like countsFor). */
  durationFor(name: string): DurationCounts {
    let d = this.durations.get(name);
    if (!d) {
      d = new DurationCounts();
      this.durations.set(name, d);
    }
    return d;
  }

  /** The Shadow counts of a class name (created once, like countsFor). */
  shadowCountsFor(name: string): Float64Array {
    let c = this.shadowCounts.get(name);
    if (!c) {
      c = new Float64Array(SHADOW_OUTCOMES.length);
      this.shadowCounts.set(name, c);
    }
    return c;
  }

  /** The counts array of a class name (created once, then shared by every ClassRuntime of that name). */
  countsFor(name: string): Float64Array {
    let c = this.counts.get(name);
    if (!c) {
      c = new Float64Array(OUTCOMES.length);
      this.counts.set(name, c);
    }
    return c;
  }
}

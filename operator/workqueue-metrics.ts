/**
 * Work-queue metrics with client-go's names, help, buckets and semantics
 * (k8s.io/component-base/metrics/prometheus/workqueue), so dashboards and alerts written for
 * Kubernetes controllers read ours too. Times come from the queue's clock, so tests drive them.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from './clock.js';

/** What a WorkQueue reports, as client-go's queueMetrics. */
export interface QueueMetrics {
  /** A key entered the queue (not when it was already waiting). */
  add(key: string): void;
  /** A worker took the key. */
  get(key: string): void;
  /** A worker finished the key. */
  done(key: string): void;
  /** The key was scheduled again after a delay (client-go counts every AddAfter). */
  retry(): void;
}

export const noQueueMetrics: QueueMetrics = { add() {}, get() {}, done() {}, retry() {} };

/** client-go's prometheus.ExponentialBuckets(10e-9, 10, 10): 10 ns … 10 s. */
const BUCKETS = Array.from({ length: 10 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));

/** The workqueue_* metrics of one registry; each queue records under its own `name` label. */
export class WorkQueueMetrics {
  private readonly depth: Gauge<'name'>;
  private readonly adds: Counter<'name'>;
  private readonly latency: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly retries: Counter<'name'>;
  /** Per queue name: when each key being processed was taken, read at scrape time. */
  private readonly processing = new Map<string, { clock: Clock; since: Map<string, number> }>();

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = ['name'] as const;
    this.depth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames, registers });
    this.adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames, registers });
    this.latency = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames,
      buckets: BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames,
      buckets: BUCKETS,
      registers,
    });
    this.retries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames, registers });
    const processing = this.processing;
    // client-go refreshes these two every 500 ms; at scrape time they are exact.
    const unfinished = (seconds: (ages: number[]) => number) =>
      function (this: Gauge<'name'>) {
        for (const [name, p] of processing) {
          const now = p.clock.now();
          this.set({ name }, seconds([...p.since.values()].map((t) => (now - t) / 1000)));
        }
      };
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help:
        "How many seconds of work has done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
      labelNames,
      registers,
      collect: unfinished((ages) => ages.reduce((a, b) => a + b, 0)),
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames,
      registers,
      collect: unfinished((ages) => Math.max(0, ...ages)),
    });
  }

  /**
   * The recorder of the queue called `name` (its series carry name="<name>"). A later queue of
   * the same name (a controller started again in one process) takes the series over: counters
   * carry on, depth and work in progress start from its own.
   */
  forQueue(name: string, clock: Clock): QueueMetrics {
    const labels = { name };
    const since = new Map<string, number>();
    this.processing.set(name, { clock, since });
    const addedAt = new Map<string, number>();
    // Every series from the start: a counter first seen at 1 loses that 1 in rate().
    this.depth.set(labels, 0);
    this.adds.inc(labels, 0);
    this.retries.inc(labels, 0);
    this.latency.zero(labels);
    this.workDuration.zero(labels);
    return {
      add: (key) => {
        this.adds.inc(labels);
        this.depth.inc(labels);
        if (!addedAt.has(key)) addedAt.set(key, clock.now());
      },
      get: (key) => {
        this.depth.dec(labels);
        const now = clock.now();
        since.set(key, now);
        const t = addedAt.get(key);
        if (t !== undefined) {
          this.latency.observe(labels, (now - t) / 1000);
          addedAt.delete(key);
        }
      },
      done: (key) => {
        const t = since.get(key);
        if (t === undefined) return;
        this.workDuration.observe(labels, (clock.now() - t) / 1000);
        since.delete(key);
      },
      retry: () => this.retries.inc(labels),
    };
  }
}

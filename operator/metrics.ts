/** The operator's Prometheus metrics, on a registry of its own (so tests can run several operators). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { WorkQueueMetrics } from './workqueue-metrics.js';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({
    name: 'spillway_operator_reconcile_total',
    help: 'Reconciles by result (published, unchanged, invalid, conflict, target-not-found, deleted, gone, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'spillway_operator_reconcile_errors_total',
    help: 'Reconciles that failed and were retried with backoff.',
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'spillway_operator_reconcile_duration_seconds',
    help: 'Time per reconcile.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  /** client-go's workqueue_* series, one `name` per queue (the controller's: "trafficpolicy"). */
  readonly workQueues = new WorkQueueMetrics(this.registry);
  readonly isLeader = new Gauge({
    name: 'spillway_operator_is_leader',
    help: '1 while this process holds the leader lease (or runs without leader election).',
    registers: [this.registry],
  });
  readonly publishedTotal = new Counter({
    name: 'spillway_operator_published_total',
    help: 'Config versions written to Redis.',
    registers: [this.registry],
  });

  readonly vendorFailovers = new Counter({
    name: 'spillway_operator_vendor_failovers_total',
    help: 'Workload-wide active vendor changes published, by route.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly vendorReportsRejected = new Counter({
    name: 'spillway_operator_vendor_reports_rejected_total',
    help: 'Sidecar vendor-health reports ignored as malformed, by reason (too-large, not-json, wrong-shape, bad-count, future, wrong-type); counted when first seen.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly unprotectedReplicas = new Gauge({
    name: 'spillway_operator_unprotected_replicas',
    help: "Ready pods of a policy's target running without the Spillway sidecar (status.unprotectedReplicas).",
    labelNames: ['policy_namespace', 'policy'] as const,
    registers: [this.registry],
  });

  /** withProcessMetrics: the process_*, nodejs_* and spillway_build_info series (the real process only). */
  constructor(withProcessMetrics = false) {
    if (withProcessMetrics) registerProcessMetrics(this.registry, 'operator');
  }
}

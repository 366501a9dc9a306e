/**
 * The Grafana dashboards, as code: the single source of charts/spillway/dashboards/*.json
 * (written by `npm run generate`, shipped as ConfigMaps by templates/dashboards.yaml).
 *
 * Labels: our metrics carry only their own (class, outcome, route, vendor, ...). `namespace` and
 * `pod` come from Prometheus's Kubernetes service discovery (the chart's PodMonitor and
 * ServiceMonitor add them); `workload` (the protected Deployment/StatefulSet) from a relabelling
 * in the scrape config (docs/observability.md). Every variable's "All" is `.*`, which also matches
 * series without the label, so the dashboards work before that relabelling exists.
 */
import { dashboard, datasourceVariable, labelVariable, q, type Dashboard, type PanelSpec } from './dashboards-model.js';

export const DASHBOARD_DIR = 'charts/spillway/dashboards';
export const DASHBOARD_NAMES = ['overview', 'vendors', 'operator'] as const;
export type DashboardName = (typeof DASHBOARD_NAMES)[number];

/** The sidecar selector every sidecar query uses. */
const S = 'namespace=~"$namespace", workload=~"$workload", pod=~"$pod"';
/** The operator selector. */
const O = 'namespace=~"$namespace", pod=~"$pod"';
/** The operator's work queue (client-go's workqueue_* metrics, `name` = WORK_QUEUE_NAME in operator/controller.ts). */
const W = `${O}, name="trafficpolicy"`;
const RATE = '$__rate_interval';
const SHED = 'outcome=~"capacity|load-level|queue-timeout"';
const ADMITTED = 'outcome!~"capacity|load-level|queue-timeout"';
const VENDOR_FAILED = 'outcome=~"failure|timeout|refused|error"';
/** Classes at or above this priority page when shed (SpillwayHighPriorityClassShed's `>= 80`). */
const HIGH_PRIORITY = 80;

function sidecarVariables(): ReturnType<typeof labelVariable>[] {
  return [
    datasourceVariable(),
    labelVariable('namespace', 'Namespace', 'spillway_config_version'),
    labelVariable('workload', 'Workload', 'spillway_config_version{namespace=~"$namespace"}'),
    labelVariable('pod', 'Pod', 'spillway_config_version{namespace=~"$namespace", workload=~"$workload"}'),
  ];
}

const ts = (title: string, description: string, queries: PanelSpec['queries'], more: Partial<PanelSpec> = {}): PanelSpec => ({
  kind: 'timeseries',
  title,
  description,
  queries,
  ...more,
});
const stat = (title: string, description: string, queries: PanelSpec['queries'], more: Partial<PanelSpec> = {}): PanelSpec => ({
  kind: 'stat',
  title,
  description,
  queries,
  width: 6,
  height: 4,
  ...more,
});

function overview(): Dashboard {
  return dashboard({
    uid: 'spillway-overview',
    title: 'Spillway / Overview',
    description: 'Inbound protection per class and per pod: budgets, refusals, latency, load level, config.',
    variables: sidecarVariables(),
    rows: [
      {
        row: 'Summary',
        panels: [
          stat('Requests / s', 'All inbound requests reaching the sidecars.', [q(`sum(rate(spillway_requests_total{${S}}[${RATE}]))`)], { unit: 'reqps' }),
          stat('Shed', 'Share of requests refused (capacity, load-level, queue-timeout).', [
            q(`sum(rate(spillway_requests_total{${S}, ${SHED}}[${RATE}])) / sum(rate(spillway_requests_total{${S}}[${RATE}]))`),
          ], { unit: 'percentunit', min: 0, max: 1 }),
          stat('Highest load level', 'The highest load level of any selected pod (0..3).', [q(`max(spillway_load_level{${S}})`)], { min: 0, max: 3 }),
          stat('Pods', 'Sidecars reporting.', [q(`count(spillway_config_version{${S}})`)]),
        ],
      },
      {
        row: 'Per class',
        panels: [
          ts('In-flight vs limit', 'Requests being served per class against the class limit (summed over pods; Cluster share and warm-up applied).', [
            q(`sum by (class) (spillway_inflight{${S}})`, '{{class}} in-flight'),
            q(`sum by (class) (spillway_limit{${S}})`, '{{class}} limit'),
          ]),
          ts('Queue length', 'Requests waiting for a slot, per class.', [q(`sum by (class) (spillway_queue_length{${S}})`, '{{class}}')]),
          ts('Admitted by outcome', 'Requests proxied to the app, per class and outcome (success, error, upstream-error, timeout, aborted).', [
            q(`sum by (class, outcome) (rate(spillway_requests_total{${S}, ${ADMITTED}}[${RATE}]))`, '{{class}} {{outcome}}'),
          ], { unit: 'reqps' }),
          ts('Shed by reason', 'Requests refused, per class and reason (x-spillway-reason): capacity, load-level, queue-timeout.', [
            q(`sum by (class, outcome) (rate(spillway_requests_total{${S}, ${SHED}}[${RATE}]))`, '{{class}} {{outcome}}'),
          ], { unit: 'reqps' }),
          ts('Latency p50 / p99', 'Arrival to end of response of admitted requests (queueing included), per class.', [
            q(`histogram_quantile(0.5, sum by (class, le) (rate(spillway_request_duration_seconds_bucket{${S}}[${RATE}])))`, '{{class}} p50'),
            q(`histogram_quantile(0.99, sum by (class, le) (rate(spillway_request_duration_seconds_bucket{${S}}[${RATE}])))`, '{{class}} p99'),
          ], { unit: 's' }),
          ts('Shed ratio', 'Share of each class refused.', [
            q(`sum by (class) (rate(spillway_requests_total{${S}, ${SHED}}[${RATE}])) / sum by (class) (rate(spillway_requests_total{${S}}[${RATE}]))`, '{{class}}'),
          ], { unit: 'percentunit', min: 0 }),
          ts(
            'Shed ratio by priority',
            `Share refused of each class with priority ≥ ${HIGH_PRIORITY} (SpillwayHighPriorityClassShed pages on these), and of all lower-priority classes together (meant to be shed first).`,
            [
              q(
                `sum by (class) (rate(spillway_requests_total{${S}, ${SHED}}[${RATE}]) and on (namespace, pod, class) spillway_class_priority{${S}} >= ${HIGH_PRIORITY}) / sum by (class) (rate(spillway_requests_total{${S}}[${RATE}]) and on (namespace, pod, class) spillway_class_priority{${S}} >= ${HIGH_PRIORITY})`,
                `{{class}} (priority ≥ ${HIGH_PRIORITY})`,
              ),
              q(
                `sum(rate(spillway_requests_total{${S}, ${SHED}}[${RATE}]) and on (namespace, pod, class) spillway_class_priority{${S}} < ${HIGH_PRIORITY}) / sum(rate(spillway_requests_total{${S}}[${RATE}]) and on (namespace, pod, class) spillway_class_priority{${S}} < ${HIGH_PRIORITY})`,
                `priority < ${HIGH_PRIORITY}`,
              ),
            ],
            { unit: 'percentunit', min: 0 },
          ),
          ts('Class priority', 'Priority of each class in the config in force (higher gets freed capacity first when classes borrow; highest over the selected pods).', [
            q(`max by (class) (spillway_class_priority{${S}})`, '{{class}}'),
          ], { min: 0, steps: true }),
        ],
      },
      {
        row: 'Adaptive admission',
        panels: [
          ts('Borrowed slots', 'In-flight requests of each class beyond its own limit, on slots other classes left idle (concurrency.borrow), summed over pods. Lenders get them back as these finish.', [
            q(`sum by (class) (spillway_borrowed{${S}})`, '{{class}}'),
          ], { min: 0 }),
          ts('Limit per pod over time', 'Each class\'s limit per pod (min and max over the selected pods): an adaptive limit (concurrency.adaptive) moves with the latency it measures; a static one only with the Cluster share and warm-up.', [
            q(`min by (class) (spillway_limit{${S}})`, '{{class}} min'),
            q(`max by (class) (spillway_limit{${S}})`, '{{class}} max'),
          ], { min: 0 }),
          ts('Shadow: would-be refusals', 'Requests a class in Shadow mode let through that Enforce would have refused (capacity, load-level, queue-timeout) or made wait (queued), per class (spillway_shadow_requests_total). SpillwayShadowWouldShed warns above 5% of a class.', [
            q(`sum by (class, outcome) (rate(spillway_shadow_requests_total{${S}}[${RATE}]))`, '{{class}} {{outcome}}'),
          ], { unit: 'reqps' }),
          ts('Shadow: would-be shed ratio', 'Share of each Shadow class that Enforce would have refused (capacity, load-level).', [
            q(`sum by (class) (rate(spillway_shadow_requests_total{${S}, outcome=~"capacity|load-level|queue-timeout"}[${RATE}])) / sum by (class) (rate(spillway_requests_total{${S}}[${RATE}]))`, '{{class}}'),
          ], { unit: 'percentunit', min: 0 }),
          ts('Classes in Shadow', '1 per pod for each class in Shadow mode (nothing refused or queued).', [
            q(`sum by (class) (spillway_class_shadow{${S}})`, '{{class}}'),
          ], { min: 0, steps: true }),
        ],
      },
      {
        row: 'Per pod',
        panels: [
          ts('Load level', 'Load level per pod (0..3): classes with shedAtLevel at or below it are refused.', [
            q(`max by (namespace, pod) (spillway_load_level{${S}})`, '{{namespace}}/{{pod}}'),
          ], { min: 0, max: 3, steps: true }),
          ts('Utilisation', 'In-flight over limits of the classes that set the load level (1 = full).', [
            q(`max by (namespace, pod) (spillway_utilisation_ratio{${S}})`, '{{namespace}}/{{pod}}'),
          ], { unit: 'percentunit', min: 0 }),
          ts('WebSocket sessions', 'Established sessions per pod (they hold no request slot and are never cut by shedding).', [
            q(`sum by (namespace, pod) (spillway_sessions{${S}})`, '{{namespace}}/{{pod}}'),
          ]),
          ts('Client connections', 'Open client connections per pod and listener (WebSocket sessions included), and the cap each listener has (--max-client-connections).', [
            q(`sum by (namespace, pod, listener) (spillway_client_connections{${S}})`, '{{namespace}}/{{pod}} {{listener}}'),
            q(`max by (listener) (spillway_client_connections_limit{${S}})`, 'cap ({{listener}})'),
          ], { min: 0 }),
          ts('Connections refused at the cap', 'New client connections closed on accept because the listener already had --max-client-connections open.', [
            q(`sum by (namespace, pod, listener) (rate(spillway_client_connections_refused_total{${S}}[${RATE}]))`, '{{namespace}}/{{pod}} {{listener}}'),
          ], { unit: 'cps', min: 0 }),
          ts('Config version', 'Version of the config each pod enforces (0: none). Pods of a workload should agree within seconds.', [
            q(`max by (namespace, pod) (spillway_config_version{${S}})`, '{{namespace}}/{{pod}}'),
          ], { steps: true }),
          ts('Configs applied and refused', 'Config documents put in force or refused as invalid, by source (redis, state-dir, file).', [
            q(`sum by (source) (increase(spillway_config_applied_total{${S}}[${RATE}]))`, 'applied {{source}}'),
            q(`sum by (source) (increase(spillway_config_rejected_total{${S}}[${RATE}]))`, 'rejected {{source}}'),
          ]),
          ts('Redis connected', '1 while a pod has its config connections to Redis (remote config only).', [
            q(`min by (namespace, pod) (spillway_config_redis_connected{${S}})`, '{{namespace}}/{{pod}}'),
          ], { min: 0, max: 1, steps: true }),
        ],
      },
    ],
  });
}

function vendors(): Dashboard {
  const R = `${S}, route=~"$route"`;
  return dashboard({
    uid: 'spillway-vendors',
    title: 'Spillway / Vendors',
    description: 'Egress routes: vendor success rates, the active vendor, failovers, dedup, deferral and dead letters.',
    variables: [...sidecarVariables(), labelVariable('route', 'Route', 'spillway_vendor_requests_total{namespace=~"$namespace", workload=~"$workload"}')],
    rows: [
      {
        row: 'Vendors',
        panels: [
          ts('Success rate per vendor', 'Attempts that succeeded, over attempts the vendor is judged on (a 4xx the caller caused is not counted).', [
            q(
              `1 - sum by (route, vendor) (rate(spillway_vendor_requests_total{${R}, ${VENDOR_FAILED}}[${RATE}])) / sum by (route, vendor) (rate(spillway_vendor_requests_total{${R}, outcome!="caller"}[${RATE}]))`,
              '{{route}} {{vendor}}',
            ),
          ], { unit: 'percentunit', min: 0, max: 1 }),
          ts("Sidecar's failover window", "The success rate each sidecar judges failover on (the route's failover.windowSeconds; absent before minRequests).", [
            q(`min by (route, vendor) (spillway_vendor_success_ratio{${R}})`, '{{route}} {{vendor}}'),
          ], { unit: 'percentunit', min: 0, max: 1 }),
          ts('Active vendor', 'Pods sending each route to each vendor now.', [q(`sum by (route, vendor) (spillway_vendor_active{${R}})`, '{{route}} {{vendor}}')], { steps: true }),
          ts('Failovers', 'Times a route moved from one vendor to another.', [
            q(`sum by (route, from, to) (increase(spillway_vendor_failovers_total{${R}}[${RATE}]))`, '{{route}} {{from}} → {{to}}'),
          ]),
          ts('Attempts by outcome', 'Egress attempts per vendor: success, failure (5xx/429), caller (4xx), timeout, refused, error.', [
            q(`sum by (route, vendor, outcome) (rate(spillway_vendor_requests_total{${R}}[${RATE}]))`, '{{route}} {{vendor}} {{outcome}}'),
          ], { unit: 'reqps' }),
          ts('Egress refused', 'Sends the sidecar refused, by reason (x-spillway-reason).', [
            q(`sum by (route, reason) (rate(spillway_egress_rejected_total{${R}}[${RATE}]))`, '{{route}} {{reason}}'),
          ], { unit: 'reqps' }),
        ],
      },
      {
        row: 'Dedup and deferral',
        panels: [
          ts('Dedup suppressions', 'Sends not repeated because their idempotency key was already claimed.', [
            q(`sum by (route) (rate(spillway_dedup_suppressed_total{${R}}[${RATE}]))`, '{{route}}'),
          ], { unit: 'reqps' }),
          ts('Deferred', 'Shed sends stored in Kafka for a later replay, and sends Kafka could not store.', [
            q(`sum by (route) (rate(spillway_deferred_total{${R}}[${RATE}]))`, '{{route}} deferred'),
            q(`sum by (route) (rate(spillway_defer_failed_total{${R}}[${RATE}]))`, '{{route}} defer failed'),
          ], { unit: 'reqps' }),
          ts('Drained', 'Replays of deferred sends, by result (delivered, retry, failed).', [
            q(`sum by (route, result) (rate(spillway_drained_total{${R}}[${RATE}]))`, '{{route}} {{result}}'),
          ], { unit: 'reqps' }),
          ts('Dead-lettered', 'Deferred sends moved to the dead-letter topic, by reason: they are not delivered unless replayed.', [
            q(`sum by (route, reason) (increase(spillway_dead_letter_total{${R}}[${RATE}]))`, '{{route}} {{reason}}'),
          ]),
        ],
      },
    ],
  });
}

function operator(): Dashboard {
  return dashboard({
    uid: 'spillway-operator',
    title: 'Spillway / Operator',
    description: 'The control plane: leader, reconciles, errors, publishing, and how far published configs have reached the sidecars.',
    variables: [
      datasourceVariable(),
      labelVariable('namespace', 'Operator namespace', 'spillway_operator_is_leader'),
      labelVariable('pod', 'Operator pod', 'spillway_operator_is_leader{namespace=~"$namespace"}'),
    ],
    rows: [
      {
        row: 'Leader and reconciles',
        panels: [
          stat('Leaders', 'Operator processes holding the lease: 1 is healthy, 0 publishes nothing.', [q(`sum(spillway_operator_is_leader{${O}})`)]),
          stat('Queue depth', 'Policies waiting to be reconciled.', [q(`sum(workqueue_depth{${W}})`)]),
          stat('Errors / s', 'Reconciles failed and retried with backoff.', [q(`sum(rate(spillway_operator_reconcile_errors_total{${O}}[${RATE}]))`)], { unit: 'reqps' }),
          stat('Published / s', 'Config versions written to Redis.', [q(`sum(rate(spillway_operator_published_total{${O}}[${RATE}]))`)], { unit: 'reqps' }),
          ts('Leader', '1 for the process holding the lease.', [q(`max by (pod) (spillway_operator_is_leader{${O}})`, '{{pod}}')], { min: 0, max: 1, steps: true }),
          ts('Reconciles by result', 'published, unchanged, invalid, conflict, target-not-found, deleted, gone, error.', [
            q(`sum by (result) (rate(spillway_operator_reconcile_total{${O}}[${RATE}]))`, '{{result}}'),
          ], { unit: 'reqps' }),
          ts('Reconcile errors', 'Failed reconciles per operator pod.', [q(`sum by (pod) (rate(spillway_operator_reconcile_errors_total{${O}}[${RATE}]))`, '{{pod}}')], { unit: 'reqps' }),
          ts('Reconcile duration', 'Time per reconcile.', [
            q(`histogram_quantile(0.5, sum by (le) (rate(spillway_operator_reconcile_duration_seconds_bucket{${O}}[${RATE}])))`, 'p50'),
            q(`histogram_quantile(0.99, sum by (le) (rate(spillway_operator_reconcile_duration_seconds_bucket{${O}}[${RATE}])))`, 'p99'),
          ], { unit: 's' }),
          ts('Published', 'Config versions written to Redis per operator pod.', [q(`sum by (pod) (increase(spillway_operator_published_total{${O}}[${RATE}]))`, '{{pod}}')]),
        ],
      },
      {
        // client-go's work-queue metrics: the same panels read any Kubernetes controller's queue.
        row: 'Work queue',
        panels: [
          ts('Depth', 'Policies added and not yet taken by a worker (a policy re-added while being reconciled counts too).', [
            q(`max by (pod) (workqueue_depth{${W}})`, '{{pod}}'),
          ]),
          ts('Adds and retries', 'Policies added to the queue, and re-added after a backoff because their reconcile failed.', [
            q(`sum by (pod) (rate(workqueue_adds_total{${W}}[${RATE}]))`, '{{pod}} adds'),
            q(`sum by (pod) (rate(workqueue_retries_total{${W}}[${RATE}]))`, '{{pod}} retries'),
          ], { unit: 'reqps' }),
          ts('Time in queue', 'From being added to being taken by a worker.', [
            q(`histogram_quantile(0.5, sum by (le) (rate(workqueue_queue_duration_seconds_bucket{${W}}[${RATE}])))`, 'p50'),
            q(`histogram_quantile(0.99, sum by (le) (rate(workqueue_queue_duration_seconds_bucket{${W}}[${RATE}])))`, 'p99'),
          ], { unit: 's' }),
          ts('Work duration', 'From being taken by a worker to done (a reconcile, status write included).', [
            q(`histogram_quantile(0.5, sum by (le) (rate(workqueue_work_duration_seconds_bucket{${W}}[${RATE}])))`, 'p50'),
            q(`histogram_quantile(0.99, sum by (le) (rate(workqueue_work_duration_seconds_bucket{${W}}[${RATE}])))`, 'p99'),
          ], { unit: 's' }),
          ts('Work in progress', 'Seconds of reconciles under way and not finished, and the longest one: steady growth means a stuck worker.', [
            q(`max by (pod) (workqueue_unfinished_work_seconds{${W}})`, '{{pod}} unfinished'),
            q(`max by (pod) (workqueue_longest_running_processor_seconds{${W}})`, '{{pod}} longest'),
          ], { unit: 's' }),
        ],
      },
      {
        // The sidecars' side of publishing: they live in the workloads' namespaces, not the operator's.
        row: 'Config propagation (sidecars)',
        panels: [
          ts('Config version per workload', 'Newest and oldest config version the pods of each workload enforce: they should meet within seconds of a publish.', [
            q('max by (namespace, workload) (spillway_config_version)', '{{namespace}}/{{workload}} newest'),
            q('min by (namespace, workload) (spillway_config_version)', '{{namespace}}/{{workload}} oldest'),
          ], { steps: true }),
          ts('Pods on the newest version', 'Share of each workload\'s pods enforcing its newest config version.', [
            q(
              'count by (namespace, workload) (spillway_config_version == on (namespace, workload) group_left max by (namespace, workload) (spillway_config_version)) / count by (namespace, workload) (spillway_config_version)',
              '{{namespace}}/{{workload}}',
            ),
          ], { unit: 'percentunit', min: 0, max: 1 }),
          ts('Sidecars connected to Redis', 'Pods per workload whose config connections to Redis are up, out of those using remote config.', [
            q('sum by (namespace, workload) (spillway_config_redis_connected)', '{{namespace}}/{{workload}} connected'),
            q('count by (namespace, workload) (spillway_config_redis_connected)', '{{namespace}}/{{workload}} pods'),
          ]),
          ts('Configs refused by sidecars', 'Documents sidecars refused as invalid (operator and sidecar versions disagree?).', [
            q('sum by (namespace, workload) (increase(spillway_config_rejected_total[$__rate_interval]))', '{{namespace}}/{{workload}}'),
          ]),
        ],
      },
    ],
  });
}

const BUILDERS: Record<DashboardName, () => Dashboard> = { overview, vendors, operator };

export function buildDashboard(name: DashboardName): Dashboard {
  return BUILDERS[name]();
}

/** The committed file's text: stable key order, 2-space indent, final newline. */
export function renderDashboard(name: DashboardName): string {
  return JSON.stringify(buildDashboard(name), null, 2) + '\n';
}

export function dashboardPath(name: DashboardName): string {
  return `${DASHBOARD_DIR}/${name}.json`;
}

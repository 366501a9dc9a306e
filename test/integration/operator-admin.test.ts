import { readFileSync } from 'node:fs';
import { startAdmin, type AdminServer } from '../../operator/admin.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { ManualClock } from '../unit/operator-fakes.js';

describe('operator admin server', () => {
  let admin: AdminServer;
  let ready = false;
  // As the real process: process_*, nodejs_* and spillway_build_info too.
  const metrics = new OperatorMetrics(true);
  metrics.workQueues.forQueue('trafficpolicy', new ManualClock());

  beforeAll(async () => {
    admin = await startAdmin({ port: 0, host: '127.0.0.1', registry: metrics.registry, ready: () => ready });
  });
  afterAll(() => admin.close());

  const get = (path: string) => fetch(`http://127.0.0.1:${admin.port}${path}`);

  it('answers /healthz, and /readyz only once ready', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
  });

  it('exposes the operator metrics', async () => {
    metrics.reconcileTotal.inc({ result: 'published' });
    metrics.isLeader.set(1);
    const text = await (await get('/metrics')).text();
    for (const name of [
      'spillway_operator_reconcile_total{result="published"} 1',
      'spillway_operator_reconcile_errors_total 0',
      'spillway_operator_reconcile_duration_seconds_bucket',
      'workqueue_depth{name="trafficpolicy"} 0',
      'workqueue_adds_total{name="trafficpolicy"} 0',
      'workqueue_queue_duration_seconds_bucket{le="1e-8",name="trafficpolicy"} 0',
      'workqueue_work_duration_seconds_count{name="trafficpolicy"} 0',
      'workqueue_retries_total{name="trafficpolicy"} 0',
      'workqueue_unfinished_work_seconds{name="trafficpolicy"} 0',
      'workqueue_longest_running_processor_seconds{name="trafficpolicy"} 0',
      'spillway_operator_is_leader 1',
      'spillway_operator_published_total 0',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('exports the default process metrics under the same names as the sidecar, and the build', async () => {
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).not.toContain('spillway_operator_process_');
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(text).toContain(`spillway_build_info{version="${version}",node_version="${process.versions.node}",component="operator"} 1`);
  });
});

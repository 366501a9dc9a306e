import { startAdmin, type AdminServer } from '../../operator/admin.js';
import { OperatorMetrics } from '../../operator/metrics.js';

describe('operator admin server', () => {
  let admin: AdminServer;
  let ready = false;
  const metrics = new OperatorMetrics();

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
      'spillway_operator_queue_depth 0',
      'spillway_operator_is_leader 1',
      'spillway_operator_published_total 0',
    ]) {
      expect(text).toContain(name);
    }
  });
});

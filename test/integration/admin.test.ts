/**
 * The admin server over real HTTP (port 0), with the real ConfigStore and a fake data plane.
 */
import { Registry } from 'prom-client';
import { startAdmin, type AdminServer } from '../../sidecar/admin.js';
import { ConfigStore } from '../../sidecar/config/store.js';
import { captureLog, FakeDataPlane, remoteConfig } from './config-fakes.js';

describe('admin server', () => {
  let admin: AdminServer;
  let store: ConfigStore;
  let plane: FakeDataPlane;
  let draining: boolean;
  let base: string;

  beforeEach(async () => {
    const registry = new Registry();
    plane = new FakeDataPlane();
    draining = false;
    store = new ConfigStore({ targets: [plane], registry, log: captureLog().log, configKey: 'talk/chat' });
    admin = await startAdmin({ registry, config: () => store.view(), dataPlane: plane, draining: () => draining }, 0, '127.0.0.1');
    base = `http://127.0.0.1:${admin.port}`;
  });

  afterEach(async () => {
    await admin.close();
  });

  const get = async (path: string) => {
    const res = await fetch(base + path);
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };

  test('/healthz answers 200 while the process runs', async () => {
    expect((await get('/healthz')).status).toBe(200);
    draining = true;
    expect((await get('/healthz')).status).toBe(200);
  });

  test('/readyz is 503 with a reason until a config is in force, then 200; 503 again while draining', async () => {
    const before = await get('/readyz');
    expect(before.status).toBe(503);
    expect(JSON.parse(before.text)).toEqual({ ready: false, reason: 'no config in force yet' });

    store.offerRemote(remoteConfig(3), 'redis');
    const after = await get('/readyz');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.text)).toEqual({ ready: true, source: 'redis', version: 3 });

    draining = true;
    const draining503 = await get('/readyz');
    expect(draining503.status).toBe(503);
    expect(JSON.parse(draining503.text).reason).toBe('shutting down');
  });

  test('/config: 404 JSON when unconfigured, then the effective config with source, version, policy, appliedAt', async () => {
    const none = await get('/config');
    expect(none.status).toBe(404);
    expect(JSON.parse(none.text)).toEqual({ error: 'no config in force' });

    const config = remoteConfig(7, 12);
    store.offerRemote(config, 'redis');
    const res = await get('/config');
    expect(res.status).toBe(200);
    expect(res.type).toContain('application/json');
    const body = JSON.parse(res.text);
    expect(body).toMatchObject({ source: 'redis', version: 7, policy: 'talk/chat', config });
    expect(Date.now() - Date.parse(body.appliedAt)).toBeLessThan(60_000);
  });

  test('/state is the data plane state', async () => {
    store.offerRemote(remoteConfig(2), 'redis');
    const res = await get('/state');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual(plane.state());
    expect(JSON.parse(res.text).configVersion).toBe(2);
  });

  test('/metrics is Prometheus text with the config metrics', async () => {
    store.offerRemote(remoteConfig(4), 'redis');
    store.offerRemote({ version: 5 }, 'redis');
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    expect(res.text).toContain('spillway_config_version 4');
    expect(res.text).toContain('spillway_config_applied_total{source="redis"} 1');
    expect(res.text).toContain('spillway_config_rejected_total{source="redis"} 1');
  });

  test('unknown paths get a JSON 404', async () => {
    const res = await get('/nope');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text).endpoints).toContain('/metrics');
  });
});

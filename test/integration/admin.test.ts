/**
 * The admin server over real HTTP (port 0), with the real ConfigStore and a fake data plane.
 */
import { Registry } from 'prom-client';
import { internalsAllowed, startAdmin, type AdminServer } from '../../sidecar/admin.js';
import { ConfigStore } from '../../sidecar/config/store.js';
import { captureLog } from '../support/log.js';
import { FakeDataPlane, remoteConfig } from './config-fakes.js';

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
    expect(res.text).toMatch(/spillway_config_rejected_total\{source="redis",reason="[a-z-]+"\} 1/);
  });

  describe('--ready-without-config-after', () => {
    let graced: AdminServer;
    let clock: number;
    const startedAt = 1_000_000;

    beforeEach(async () => {
      clock = startedAt;
      graced = await startAdmin(
        {
          registry: new Registry(),
          config: () => store.view(),
          dataPlane: plane,
          draining: () => draining,
          readyWithoutConfig: { afterS: 60, startedAt, now: () => clock },
        },
        0,
        '127.0.0.1',
      );
    });

    afterEach(async () => {
      await graced.close();
    });

    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${graced.port}/readyz`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    test('/readyz: 503 within the grace period, 200 "config none" after it, the config once one arrives, 503 while draining', async () => {
      expect(await readyz()).toEqual({ status: 503, body: { ready: false, reason: 'no config in force yet' } });
      clock = startedAt + 59_999;
      expect((await readyz()).status).toBe(503);
      clock = startedAt + 60_000;
      const none = { ready: true, config: 'none', reason: 'no config after 60s: passing traffic through unlimited' };
      expect(await readyz()).toEqual({ status: 200, body: none });
      // /config still says nothing is in force: the pod is ready, not configured.
      expect((await fetch(`http://127.0.0.1:${graced.port}/config`)).status).toBe(404);

      store.offerRemote(remoteConfig(3), 'redis');
      expect(await readyz()).toEqual({ status: 200, body: { ready: true, source: 'redis', version: 3 } });
      draining = true;
      expect((await readyz()).status).toBe(503);
    });

    test('a config arriving within the grace period: ready with it, as without the flag', async () => {
      clock = startedAt + 5_000;
      store.offerRemote(remoteConfig(2), 'redis');
      expect(await readyz()).toEqual({ status: 200, body: { ready: true, source: 'redis', version: 2 } });
    });

    test('afterS 0 is off: never ready without a config', async () => {
      const off = await startAdmin(
        { registry: new Registry(), config: () => null, dataPlane: plane, draining: () => false, readyWithoutConfig: { afterS: 0, startedAt, now: () => startedAt + 86_400_000 } },
        0,
        '127.0.0.1',
      );
      try {
        expect((await fetch(`http://127.0.0.1:${off.port}/readyz`)).status).toBe(503);
      } finally {
        await off.close();
      }
    });
  });

  describe('internals (/config, /state) only on the internals address', () => {
    // 127.0.0.0/8 is all loopback on Linux, so 127.0.0.2 stands in for "the pod IP": what this
    // proves is that the check keys on the address a connection was made to, as the kernel
    // reports it (not on any header), and that /metrics and the probes are served on every address.
    let all: AdminServer;
    const open = (internalsAddress?: string) =>
      startAdmin({ registry: new Registry(), config: () => store.view(), dataPlane: plane, draining: () => false, internalsAddress }, 0, '0.0.0.0');
    const status = async (host: string, path: string, headers: Record<string, string> = {}) => (await fetch(`http://${host}:${all.port}${path}`, { headers })).status;

    afterEach(async () => {
      await all?.close();
    });

    test('default 127.0.0.1: served over loopback 127.0.0.1, refused (403) on another address whatever the headers say', async () => {
      all = await open();
      store.offerRemote(remoteConfig(1), 'redis');
      expect(await status('127.0.0.1', '/config')).toBe(200);
      expect(await status('127.0.0.1', '/state')).toBe(200);
      const spoof = { host: '127.0.0.1', 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1', 'x-real-ip': '127.0.0.1' };
      expect(await status('127.0.0.2', '/config', spoof)).toBe(403);
      expect(await status('127.0.0.2', '/state', spoof)).toBe(403);
      const refused = await fetch(`http://127.0.0.2:${all.port}/state`);
      expect(await refused.json()).toEqual({ error: expect.stringMatching(/served on 127\.0\.0\.1 only: use kubectl port-forward or kubectl exec/) });
      for (const path of ['/metrics', '/healthz', '/readyz']) expect(await status('127.0.0.2', path)).toBe(200);
    });

    test('another address: served there only; 0.0.0.0: everywhere', async () => {
      all = await open('127.0.0.2');
      expect(await status('127.0.0.2', '/state')).toBe(200);
      expect(await status('127.0.0.1', '/state')).toBe(403);
      await all.close();
      all = await open('0.0.0.0');
      expect(await status('127.0.0.1', '/state')).toBe(200);
      expect(await status('127.0.0.2', '/state')).toBe(200);
    });

    test('address forms: v4-mapped IPv6, ::1 as loopback, unknown local address refused', () => {
      expect(internalsAllowed('127.0.0.1', '::ffff:127.0.0.1')).toBe(true);
      expect(internalsAllowed('127.0.0.1', '::1')).toBe(true);
      expect(internalsAllowed('::1', '127.0.0.1')).toBe(true);
      expect(internalsAllowed('127.0.0.1', '::ffff:10.1.2.3')).toBe(false);
      expect(internalsAllowed('127.0.0.1', '10.1.2.3')).toBe(false);
      expect(internalsAllowed('127.0.0.1', undefined)).toBe(false);
      expect(internalsAllowed('::', '10.1.2.3')).toBe(true);
    });
  });

  test('unknown paths get a JSON 404', async () => {
    const res = await get('/nope');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text).endpoints).toContain('/metrics');
  });
});

/**
 * The real built CLI as a process: `node bin/spillway.js sidecar` with the example policy in
 * front of a real upstream. Needs the build (`npx tsc -p tsconfig.build.json`; `npm test`
 * builds first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { configKey } from '../../api/config.js';
import { parseLogLines } from '../support/log.js';
import { freePort } from '../support/ports.js';
import { RedisServer } from '../support/redis.js';
import { remoteConfig, sleep, waitFor } from './config-fakes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'spillway.js');

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, 'sidecar', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'test-pod', ...env } });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout?.resume();
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, stderr: () => err, exited };
}

async function waitReady(run: Run, adminUrl: string): Promise<void> {
  await waitFor(
    `/readyz 200 (stderr so far: ${run.stderr().slice(-500)})`,
    async () => {
      if (run.child.exitCode !== null) throw new Error(`sidecar exited ${run.child.exitCode}: ${run.stderr()}`);
      return fetch(`${adminUrl}/readyz`).then((r) => r.status === 200, () => false);
    },
    30_000,
  );
}

async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

/** Every stderr line of a running sidecar is a JSON log line (the usage text of a bad flag aside). */
const logLines = parseLogLines;

describe('spillway sidecar (process)', () => {
  let upstream: Server;
  let upstreamPort: number;
  let stateDir: string;
  const runs: Run[] = [];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'sidecar', 'main.js'))) {
      throw new Error('dist/ is missing: build first with `npx tsc -p tsconfig.build.json` (npm test does)');
    }
    upstream = createServer((req, res) => {
      const delay = req.url?.startsWith('/slow') ? 800 : 0;
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ path: req.url, method: req.method }));
      }, delay);
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamPort = (upstream.address() as AddressInfo).port;
    stateDir = await mkdtemp(join(tmpdir(), 'spillway-proc-'));
  });

  afterEach(async () => {
    for (const run of runs.splice(0)) {
      if (run.child.exitCode === null && run.child.signalCode === null && run.child.pid !== undefined) {
        process.kill(run.child.pid, 'SIGKILL');
        await run.exited;
      }
    }
  });

  afterAll(async () => {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
    await rm(stateDir, { recursive: true, force: true });
  });

  test('serves with the example policy, reports on the admin port, and drains on SIGTERM', async () => {
    const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
    const run = runCli([
      '--listen', String(listen),
      '--admin', String(admin),
      '--egress', String(egress),
      '--host', '127.0.0.1',
      '--upstream', `http://127.0.0.1:${upstreamPort}`,
      '--policy', 'examples/chat-policy.yaml',
      '--state-dir', stateDir,
    ]);
    runs.push(run);
    const adminUrl = `http://127.0.0.1:${admin}`;

    await waitReady(run, adminUrl);

    const started = logLines(run.stderr()).find((l) => l.msg === 'sidecar started');
    expect(started).toMatchObject({ level: 'info', component: 'sidecar', listen, admin, egress, configSource: 'file', configVersion: 1, podName: 'test-pod' });
    expect(logLines(run.stderr()).find((l) => l.msg === 'config applied')).toMatchObject({ level: 'info', component: 'sidecar.config', source: 'file', version: 1 });

    const config = (await (await fetch(`${adminUrl}/config`)).json()) as Record<string, unknown>;
    expect(config).toMatchObject({ source: 'file', version: 1, policy: 'talk/chat' });

    const proxied = await fetch(`http://127.0.0.1:${listen}/messages/room-1`, { method: 'POST', body: 'hi' });
    expect(proxied.status).toBe(200);
    expect(await proxied.json()).toEqual({ path: '/messages/room-1', method: 'POST' });

    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^process_cpu_user_seconds_total \d/m);
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(metrics).toContain(`spillway_build_info{version="${version}",node_version="${process.versions.node}",component="sidecar"} 1`);
    expect(metrics).toContain('spillway_config_version 1');
    expect(metrics).toContain('spillway_config_applied_total{source="file"} 1');
    expect(metrics).toMatch(/spillway_requests_total\{[^}]*class="send-message"[^}]*\} 1/);

    const state = (await (await fetch(`${adminUrl}/state`)).json()) as { configVersion: number; classes: Array<{ name: string }> };
    expect(state.configVersion).toBe(1);
    expect(state.classes.map((c) => c.name)).toContain('send-message');

    // A request in flight when SIGTERM arrives still completes; then the process exits 0.
    const inflight = fetch(`http://127.0.0.1:${listen}/slow`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await sleep(200);
    process.kill(run.child.pid!, 'SIGTERM');
    const done = await inflight;
    expect(done.status).toBe(200);
    expect(JSON.parse(done.body)).toEqual({ path: '/slow', method: 'GET' });
    const exit = await run.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    const msgs = logLines(run.stderr()).map((l) => l.msg);
    expect(msgs).toContain('shutting down: draining in-flight requests');
    expect(msgs[msgs.length - 1]).toBe('stopped');
  });

  test('from Redis: applies and persists the key; restarted while Redis is down, enforces the persisted config', async () => {
    const redis = await RedisServer.start();
    try {
      const writer = new Redis(redis.url, { disconnectTimeout: 100 });
      await writer.set(configKey('talk/chat'), JSON.stringify(remoteConfig(3, 25)));
      writer.disconnect();
      const start = async () => {
        const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
        const run = runCli([
          '--listen', String(listen),
          '--admin', String(admin),
          '--egress', String(egress),
          '--host', '127.0.0.1',
          '--upstream', `http://127.0.0.1:${upstreamPort}`,
          '--redis', redis.url,
          '--config-key', 'talk/chat',
          '--state-dir', stateDir,
        ]);
        runs.push(run);
        const adminUrl = `http://127.0.0.1:${admin}`;
        await waitReady(run, adminUrl);
        return { run, listen, adminUrl };
      };
      const stop = async (run: Run) => {
        process.kill(run.child.pid!, 'SIGTERM');
        expect(await run.exited).toEqual({ code: 0, signal: null });
      };
      type State = { classes: Array<{ name: string; limit: number }> };
      const limit = (s: State) => s.classes.find((c) => c.name === 'send-message')?.limit;

      const first = await start();
      expect(await getJson(`${first.adminUrl}/config`)).toMatchObject({ source: 'redis', version: 3 });
      expect(limit(await getJson<State>(`${first.adminUrl}/state`))).toBe(25);
      await stop(first.run);

      await redis.stop();
      const second = await start();
      expect(await getJson(`${second.adminUrl}/config`)).toMatchObject({ source: 'state-dir', version: 3 });
      expect(limit(await getJson<State>(`${second.adminUrl}/state`))).toBe(25);
      const proxied = await fetch(`http://127.0.0.1:${second.listen}/messages/1`, { method: 'POST', body: 'x' });
      expect(proxied.status).toBe(200);
      // The outage is a warning with the error, its type and its stack.
      const outage = logLines(second.run.stderr()).find((l) => String(l.msg).startsWith('redis unreachable'));
      expect(outage).toMatchObject({ level: 'warn', component: 'sidecar.redis', key: 'spillway:config:talk/chat', err: { type: expect.any(String), message: expect.any(String), stack: expect.stringMatching(/\n\s+at /) } });
      await stop(second.run);
    } finally {
      await redis.stop();
    }
  });

  test('SPILLWAY_READY_WITHOUT_CONFIG_AFTER: with no TrafficPolicy for its key, ready after the grace period, passing traffic through, one warning', async () => {
    const redis = await RedisServer.start();
    try {
      const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
      const spawnedAt = Date.now();
      const run = runCli(
        [
          '--listen', String(listen),
          '--admin', String(admin),
          '--egress', String(egress),
          '--host', '127.0.0.1',
          '--upstream', `http://127.0.0.1:${upstreamPort}`,
          '--redis', redis.url,
          '--config-key', 'talk/no-policy',
          '--state-dir', stateDir,
        ],
        { SPILLWAY_READY_WITHOUT_CONFIG_AFTER: '2' },
      );
      runs.push(run);
      const adminUrl = `http://127.0.0.1:${admin}`;
      await waitReady(run, adminUrl);
      // Never before the grace period (a lower bound only: the machine may be slow, never fast).
      expect(Date.now() - spawnedAt).toBeGreaterThanOrEqual(2_000);
      expect(await getJson(`${adminUrl}/readyz`)).toEqual({ ready: true, config: 'none', reason: 'no config after 2s: passing traffic through unlimited' });
      expect((await fetch(`${adminUrl}/config`)).status).toBe(404);
      const proxied = await fetch(`http://127.0.0.1:${listen}/messages/1`, { method: 'POST', body: 'x' });
      expect(proxied.status).toBe(200);
      await waitFor('the warning', () => logLines(run.stderr()).some((l) => String(l.msg).startsWith('no config after 2s')), 10_000);
      await sleep(300);
      const warnings = logLines(run.stderr()).filter((l) => String(l.msg).startsWith('no config after'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 'warn', readyWithoutConfigAfter: 2 });
      expect(await (await fetch(`${adminUrl}/metrics`)).text()).toContain('spillway_config_version 0');
      process.kill(run.child.pid!, 'SIGTERM');
      expect(await run.exited).toEqual({ code: 0, signal: null });
    } finally {
      await redis.stop();
    }
  });

  test('SPILLWAY_REDIS_OPTIONAL (per-workload Redis users, no Secret yet): starts without Redis, warns, ready after the grace period', async () => {
    const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
    const run = runCli(
      ['--listen', String(listen), '--admin', String(admin), '--egress', String(egress), '--host', '127.0.0.1', '--upstream', `http://127.0.0.1:${upstreamPort}`, '--state-dir', stateDir],
      // What the webhook injects when the optional secretKeyRef found no Secret: no SPILLWAY_REDIS at all.
      { SPILLWAY_CONFIG_KEY: 'talk/no-policy-yet', SPILLWAY_REDIS_OPTIONAL: 'true', SPILLWAY_READY_WITHOUT_CONFIG_AFTER: '1', SPILLWAY_REDIS: '' },
    );
    runs.push(run);
    const adminUrl = `http://127.0.0.1:${admin}`;
    await waitReady(run, adminUrl);
    expect((await fetch(`http://127.0.0.1:${listen}/x`)).status).toBe(200);
    expect(logLines(run.stderr())).toEqual(
      expect.arrayContaining([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^no Redis URL \(the workload has no TrafficPolicy/), configKey: 'talk/no-policy-yet' })]),
    );
    process.kill(run.child.pid!, 'SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
  });

  test('a port in use: exits 1 with an error log line carrying the code and stack', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const run = runCli(['--admin', String((taken.address() as AddressInfo).port), '--listen', String(await freePort()), '--egress', String(await freePort()), '--host', '127.0.0.1']);
      runs.push(run);
      const ended = once(run.child.stderr!, 'end');
      expect((await run.exited).code).toBe(1);
      await ended;
      expect(logLines(run.stderr()).at(-1)).toMatchObject({
        level: 'error',
        component: 'sidecar',
        msg: 'could not start; exiting',
        err: { code: 'EADDRINUSE', stack: expect.stringMatching(/^Error: listen EADDRINUSE.*\n\s+at /) },
      });
    } finally {
      taken.close();
    }
  });

  test('--max-client-connections: on each listener the connection beyond it is closed at once and counted; closing one makes room', async () => {
    const CAP = 50;
    const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
    const run = runCli([
      '--listen', String(listen),
      '--admin', String(admin),
      '--egress', String(egress),
      '--host', '127.0.0.1',
      '--upstream', `http://127.0.0.1:${upstreamPort}`,
      '--policy', 'examples/chat-policy.yaml',
      '--state-dir', stateDir,
      '--max-client-connections', String(CAP),
      // The held connections stay idle for the whole test.
      '--idle-timeout-ms', '60000',
    ]);
    runs.push(run);
    const adminUrl = `http://127.0.0.1:${admin}`;
    await waitReady(run, adminUrl);
    const metrics = () => fetch(`${adminUrl}/metrics`).then((r) => r.text());
    const held: Socket[] = [];
    try {
      for (const port of [listen, egress]) {
        for (let i = 0; i < CAP; i++) {
          const s = connect({ host: '127.0.0.1', port });
          s.on('error', () => {});
          await once(s, 'connect');
          held.push(s);
        }
      }
      await waitFor('both listeners to count their connections', async () => {
        const m = await metrics();
        return m.includes(`spillway_client_connections{listener="inbound"} ${CAP}`) && m.includes(`spillway_client_connections{listener="egress"} ${CAP}`);
      });
      for (const port of [listen, egress]) {
        const started = Date.now();
        const s = connect({ host: '127.0.0.1', port });
        let got = '';
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('error', () => {});
        s.on('connect', () => s.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n'));
        // Not once(s, 'close'): that rejects on the reset the closed connection may give the write.
        await new Promise((resolve) => s.on('close', resolve));
        expect({ port, got, fast: Date.now() - started < 2_000 }).toEqual({ port, got: '', fast: true });
      }
      const m = await metrics();
      for (const listener of ['inbound', 'egress']) {
        expect(m).toContain(`spillway_client_connections_refused_total{listener="${listener}",reason="limit"} 1`);
        expect(m).toContain(`spillway_client_connections_limit{listener="${listener}"} ${CAP}`);
      }

      held.shift()?.destroy();
      await waitFor('the inbound count to drop', async () => (await metrics()).includes(`spillway_client_connections{listener="inbound"} ${CAP - 1}`));
      const served = await fetch(`http://127.0.0.1:${listen}/messages/room-1`, { method: 'POST', body: 'hi' });
      expect(served.status).toBe(200);
      await served.body?.cancel();
      expect(await metrics()).toContain('spillway_client_connections_refused_total{listener="inbound",reason="limit"} 1');
    } finally {
      for (const s of held) s.destroy();
    }
  });

  test.each([
    [['--config-key', 'talk/chat'], /--config-key needs --redis/],
    [['--listen', '99999'], /--listen/],
    [['--policy', 'examples/does-not-exist.yaml'], /--policy: cannot read/],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const run = runCli(args);
    runs.push(run);
    const exit = await run.exited;
    expect(exit.code).toBe(2);
    expect(run.stderr()).toMatch(message);
    expect(run.stderr()).toContain('Usage: spillway sidecar');
  });
});

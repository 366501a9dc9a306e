/** The inbound proxy as a proxy: pass-through, headers, bodies, keep-alive, 502/504, aborts. */
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { freePort } from '../support/ports.js';
import type { Inbound } from '../../sidecar/inbound.js';
import { classState, closeProxyUnderTest, compiled, metric, send, startInbound, startProxyUnderTest, Upstream, waitFor, type SendOptions } from './inbound-support.js';
import type { Registry } from 'prom-client';

describe('inbound proxy', () => {
  let up: Upstream;
  let inbound: Inbound;
  let registry: Registry;
  const agents: Agent[] = [];

  beforeEach(async () => ({ up, inbound, registry } = await startProxyUnderTest()));
  afterEach(() => closeProxyUnderTest({ up, inbound, registry }, agents));

  const echo = () => {
    up.hold = () => false;
    up.respond = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('x-seen-headers', JSON.stringify(req.headers));
        res.setHeader('keep-alive', 'timeout=99');
        res.setHeader('x-remote-port', String(req.socket.remotePort));
        res.end(Buffer.concat(chunks));
      });
    };
  };
  const seen = (r: { headers: Record<string, unknown> }) => JSON.parse(String(r.headers['x-seen-headers'])) as Record<string, string>;

  it('before any config: proxies everything unlimited as class "unconfigured"', async () => {
    echo();
    const replies = await Promise.all(Array.from({ length: 20 }, () => send(inbound.port, { path: '/x' })));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(inbound.state().classes.map((c) => c.name)).toEqual(['unconfigured']);
    expect(inbound.state().configVersion).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="unconfigured",outcome="success"}')).toBe(20);
  });

  it('streams bodies both ways, strips hop-by-hop headers, sets x-forwarded-*', async () => {
    echo();
    const body = Buffer.alloc(3 * 1024 * 1024, 'a');
    const r = await send(inbound.port, {
      method: 'POST',
      path: '/upload?x=1',
      headers: { 'x-forwarded-for': '10.0.0.1', 'keep-alive': 'timeout=1', 'x-drop-me': '1', connection: 'x-drop-me', 'x-app': 'kept' },
      body,
    });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(body.length);
    const h = seen(r);
    expect(h['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-app']).toBe('kept');
    expect(h['keep-alive']).toBeUndefined();
    expect(h['x-drop-me']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=99');
  });

  it('streams a chunked request body of unknown length', async () => {
    echo();
    const r = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: inbound.port, method: 'POST', path: '/', agent: false }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (s += c));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      for (let i = 0; i < 100; i++) req.write(`chunk-${i};`);
      req.end();
    });
    expect(r.split(';').length).toBe(101);
  });

  it('keeps connections to the upstream alive (bounded pool)', async () => {
    await inbound.close();
    ({ inbound, registry } = await startInbound(up.url, { maxUpstreamSockets: 4 }));
    echo();
    const ports = new Set<string>();
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => send(inbound.port)));
      rs.forEach((r) => ports.add(String(r.headers['x-remote-port'])));
    }
    expect(ports.size).toBeLessThanOrEqual(4);
  });

  it('502 when the upstream is unreachable, and the slot is released', async () => {
    await inbound.close();
    ({ inbound, registry } = await startInbound(`http://127.0.0.1:${await freePort()}`));
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 2 } } }));
    for (let i = 0; i < 5; i++) {
      const r = await send(inbound.port);
      expect(r.status).toBe(502);
      expect(r.headers['x-spillway-class']).toBe('default');
    }
    expect(classState(inbound, 'default').inflight).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="upstream-error"}')).toBe(5);
  });

  it('504 after the class timeoutMs, the upstream request is cancelled and the slot freed at once', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 }, timeoutMs: 150 } }));
    const started = Date.now();
    const r = await send(inbound.port);
    expect(r.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(classState(inbound, 'default').inflight).toBe(0);
    await waitFor(() => up.closedEarly === 1, 'upstream sees the cancel');
    // The freed slot is usable immediately.
    up.hold = () => false;
    expect((await send(inbound.port)).status).toBe(200);
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="timeout"}')).toBe(1);
  });

  it('a client abort cancels the upstream request and frees the slot', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 } } }));
    const req = request({ host: '127.0.0.1', port: inbound.port, path: '/slow', agent: false });
    req.on('error', () => {});
    req.end();
    await waitFor(() => up.held.length === 1, 'upstream holds the request');
    expect(classState(inbound, 'default').inflight).toBe(1);
    req.destroy();
    await waitFor(() => classState(inbound, 'default').inflight === 0, 'slot released');
    await waitFor(() => up.closedEarly === 1, 'upstream request cancelled');
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="aborted"}')).toBe(1);
  });

  it('an upstream that dies mid-body: the client connection is cut and the slot freed', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 } } }));
    up.hold = () => false;
    up.respond = (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.destroy(), 20);
    };
    await expect(send(inbound.port)).rejects.toThrow();
    await waitFor(() => classState(inbound, 'default').inflight === 0, 'slot released');
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="upstream-error"}')).toBe(1);
  });

  it('counts upstream 5xx as error and passes them through', async () => {
    inbound.apply(compiled({}));
    up.hold = () => false;
    up.respond = (_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    };
    const r = await send(inbound.port);
    expect(r.status).toBe(500);
    expect(r.body).toBe('boom');
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="error"}')).toBe(1);
  });

  it('hammered with aborts, timeouts and upstream errors, every slot comes back', async () => {
    inbound.apply(
      compiled({
        classes: [{ name: 'q', match: [{ pathPrefix: '/q' }], concurrency: { limit: 3 }, queue: { size: 20, timeoutMs: 80 }, timeoutMs: 60 }],
        defaultClass: { concurrency: { limit: 4 }, timeoutMs: 60 },
      }),
    );
    up.hold = () => false;
    let n = 0;
    up.respond = (_req, res) => {
      const k = n++ % 4;
      if (k === 0) res.end('fast');
      else if (k === 1) setTimeout(() => res.end('slow'), 100); // beyond timeoutMs
      else if (k === 2) res.socket?.destroy(); // upstream error
      else setTimeout(() => res.end('ok'), 10);
    };
    const tasks: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const o: SendOptions = { path: i % 2 ? '/q' : '/d', method: i % 3 ? 'GET' : 'POST', body: i % 3 ? undefined : 'x'.repeat(100) };
      if (i % 5 === 0) {
        tasks.push(
          new Promise<void>((resolve) => {
            const req = request({ host: '127.0.0.1', port: inbound.port, path: o.path, agent: false }, (res) => res.resume());
            req.on('error', () => resolve());
            req.on('close', () => resolve());
            req.end();
            setTimeout(() => req.destroy(), (i * 7) % 50);
          }),
        );
      } else tasks.push(send(inbound.port, o).catch(() => undefined));
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(tasks);
    await waitFor(() => inbound.state().classes.every((c) => c.inflight === 0 && c.queued === 0), 'all slots back');
    let total = 0;
    for (const cls of ['q', 'default'])
      for (const o of ['success', 'error', 'upstream-error', 'timeout', 'aborted', 'capacity', 'load-level', 'queue-timeout'])
        total += (await metric(registry, `spillway_requests_total{class="${cls}",outcome="${o}"}`)) ?? 0;
    // Every request that reached the sidecar has exactly one outcome; an abort may happen before it arrives.
    expect(total).toBeGreaterThanOrEqual(160);
    expect(total).toBeLessThanOrEqual(200);
  });
});

describe('inbound metrics', () => {
  it('expose the contract names in a valid Prometheus exposition', async () => {
    const up = await Upstream.start();
    up.hold = () => false;
    const { inbound, registry } = await startInbound(up.url);
    inbound.apply(compiled({ classes: [{ name: 'a', priority: 90, match: [{ pathPrefix: '/a' }], concurrency: { limit: 3 } }] }, 7));
    await Promise.all([send(inbound.port, { path: '/a' }), send(inbound.port, { path: '/b' }), send(inbound.port, { path: '/a' })]);
    const text = await registry.metrics();
    for (const name of [
      'spillway_requests_total',
      'spillway_inflight',
      'spillway_limit',
      'spillway_queue_length',
      'spillway_class_priority',
      'spillway_request_duration_seconds',
      'spillway_load_level',
      'spillway_utilisation_ratio',
      'spillway_sessions',
    ])
      expect(text).toContain(`# TYPE ${name} `);
    // spillway_config_version belongs to the config store (sidecar/config/store.ts), not the inbound.
    expect(text).not.toContain('spillway_config_version');
    expect(await metric(registry, 'spillway_request_duration_seconds_count{class="a"}')).toBe(2);
    expect(await metric(registry, 'spillway_request_duration_seconds_bucket{le="+Inf",class="a"}')).toBe(2);
    expect(await metric(registry, 'spillway_requests_total{class="default",outcome="success"}')).toBe(1);
    // The priority of each class in force (the default class's is 50 unless the policy says otherwise).
    expect(await metric(registry, 'spillway_class_priority{class="a"}')).toBe(90);
    expect(await metric(registry, 'spillway_class_priority{class="default"}')).toBe(50);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stderr).not.toMatch(/error/i);
    await inbound.close();
    await up.close();
  });
});

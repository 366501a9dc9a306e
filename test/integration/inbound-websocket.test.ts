/** WebSocket pass-through: admitted like a request, then a session that holds no slot and survives storms and config changes. */
import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import type { Inbound } from '../../sidecar/inbound.js';
import { classState, compiled, metric, send, startInbound, Upstream, waitFor } from './inbound-support.js';

const policy = (limit: number, queue = 0) =>
  compiled({
    loadLevels: { thresholds: [0.5, 0.8, 0.9], holdSeconds: 1 },
    classes: [
      { name: 'ws', match: [{ websocket: true }], concurrency: { limit }, queue: { size: queue, timeoutMs: queue > 0 ? 5000 : undefined } },
      { name: 'storm', match: [{ pathPrefix: '/storm' }], concurrency: { limit }, shedAtLevel: 1 },
    ],
    defaultClass: { concurrency: { limit } },
  });

function open(port: number, path = '/chat'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function roundTrip(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (m) => resolve(String(m)));
    ws.send(text);
  });
}

/** The refused handshake's status and headers. */
function refused(port: number, path = '/chat'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('upgrade was not refused')));
    ws.once('error', () => {});
  });
}

describe('inbound WebSocket', () => {
  let up: Upstream;
  let wss: WebSocketServer;
  let inbound: Inbound;
  let registry: Registry;
  const clients: WebSocket[] = [];
  /** Handshakes the upstream is holding (verifyClient not answered yet). */
  const pendingHandshakes: ((ok: boolean, code?: number) => void)[] = [];

  beforeEach(async () => {
    up = await Upstream.start();
    up.hold = (req) => req.url?.includes('/held') ?? false;
    wss = new WebSocketServer({
      server: up.server,
      verifyClient: (info, done) => {
        if (info.req.url === '/slow') pendingHandshakes.push(done);
        else if (info.req.url === '/forbidden') done(false, 403);
        else done(true);
      },
    });
    wss.on('connection', (s) => s.on('message', (m) => s.send(`echo:${String(m)}`)));
    ({ inbound, registry } = await startInbound(up.url));
    inbound.apply(policy(5));
  });
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.terminate());
    pendingHandshakes.splice(0).forEach((done) => done(false, 500));
    await inbound.close();
    wss.close();
    await up.close();
  });

  it('a session survives a storm of refused requests and an apply() that shrinks every limit', async () => {
    const ws = await open(inbound.port);
    clients.push(ws);
    expect(await roundTrip(ws, 'hi')).toBe('echo:hi');
    await waitFor(() => inbound.state().sessions === 1, 'session counted');
    expect(classState(inbound, 'ws').inflight).toBe(0); // the session holds no slot
    expect(await metric(registry, 'spillway_sessions')).toBe(1);

    // Storm: hold the 'storm' budget and the default budget, push the level up, refuse 200 more.
    const held = [
      ...Array.from({ length: 5 }, (_, i) => send(inbound.port, { path: `/storm/held/${i}` })),
      ...Array.from({ length: 5 }, (_, i) => send(inbound.port, { path: `/held/d${i}` })),
    ];
    await waitFor(() => up.held.length === 10 && inbound.loadLevel() >= 1, 'storm and default classes full, level up');
    const storm = await Promise.all(Array.from({ length: 200 }, () => send(inbound.port, { path: '/storm/x' })));
    expect(storm.every((r) => r.status === 503)).toBe(true);

    inbound.apply(policy(1));
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 } } }, 2));
    expect(await roundTrip(ws, 'still here')).toBe('echo:still here');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(inbound.state().sessions).toBe(1);

    inbound.clear();
    expect(await roundTrip(ws, 'after clear')).toBe('echo:after clear');
    up.hold = () => false;
    up.release();
    await Promise.all(held);
  });

  it('the upgrade holds a slot only during the handshake; a refused upgrade gets a plain HTTP refusal', async () => {
    inbound.apply(policy(1));
    const slow = open(inbound.port, '/slow');
    await waitFor(() => pendingHandshakes.length === 1, 'handshake at the upstream');
    expect(classState(inbound, 'ws').inflight).toBe(1);
    const res = await refused(inbound.port);
    expect(res.statusCode).toBe(503);
    expect(res.headers['x-spillway-class']).toBe('ws');
    expect(res.headers['x-spillway-reason']).toBe('capacity');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    pendingHandshakes.shift()?.(true);
    const ws = await slow;
    clients.push(ws);
    await waitFor(() => classState(inbound, 'ws').inflight === 0, 'slot released on 101');
    const second = await open(inbound.port);
    clients.push(second);
    expect(await roundTrip(second, 'x')).toBe('echo:x');
    expect(inbound.state().sessions).toBe(2);
    ws.close();
    await waitFor(() => inbound.state().sessions === 1, 'closed session uncounted');
  });

  it('queued upgrades are admitted when the handshake slot frees', async () => {
    inbound.apply(policy(1, 5));
    const slow = open(inbound.port, '/slow');
    await waitFor(() => pendingHandshakes.length === 1, 'handshake at the upstream');
    const queued = open(inbound.port);
    await waitFor(() => classState(inbound, 'ws').queued === 1, 'upgrade queued');
    pendingHandshakes.shift()?.(true);
    clients.push(await slow, await queued);
    expect(inbound.state().sessions).toBe(2);
  });

  it('relays large messages both ways with back-pressure, and closes both sides together', async () => {
    const ws = await open(inbound.port);
    clients.push(ws);
    const big = 'x'.repeat(8 * 1024 * 1024);
    expect((await roundTrip(ws, big)).length).toBe(big.length + 'echo:'.length);
    await waitFor(() => wss.clients.size === 1, 'upstream side open');
    ws.close();
    await waitFor(() => inbound.state().sessions === 0 && wss.clients.size === 0, 'both sides closed');
  });

  it("relays the upstream's own refusal of an upgrade and frees the slot", async () => {
    const res = await refused(inbound.port, '/forbidden');
    expect(res.statusCode).toBe(403);
    await waitFor(() => classState(inbound, 'ws').inflight === 0, 'slot released');
    expect(inbound.state().sessions).toBe(0);
  });

  it('10 sessions stay up while their class is shed by load level', async () => {
    inbound.apply(
      compiled({
        loadLevels: { thresholds: [0.5, 0.8, 0.9], holdSeconds: 1 },
        classes: [
          { name: 'ws', match: [{ websocket: true }], concurrency: { limit: 100 }, shedAtLevel: 1, affectsLoadLevel: false },
          { name: 'storm', match: [{ pathPrefix: '/storm' }], concurrency: { limit: 4 } },
        ],
        defaultClass: { concurrency: { limit: 1 }, affectsLoadLevel: false },
      }),
    );
    for (let i = 0; i < 10; i++) clients.push(await open(inbound.port));
    const held = Array.from({ length: 4 }, (_, i) => send(inbound.port, { path: `/storm/held/${i}` }));
    await waitFor(() => up.held.length === 4 && inbound.loadLevel() >= 1, 'level up');
    const res = await refused(inbound.port);
    expect(res.headers['x-spillway-reason']).toBe('load-level');
    for (const c of clients) expect(await roundTrip(c, 'ping')).toBe('echo:ping');
    expect(inbound.state().sessions).toBe(10);
    up.release();
    await Promise.all(held);
  });
});

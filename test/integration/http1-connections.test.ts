/**
 * The engine's bounds on client connections: the header deadline counts from a head's first
 * byte whatever trickles after it (slowloris), a connection that sends nothing (or only the empty
 * lines allowed before a request line) is closed by the idle timeout, and beyond maxConnections a
 * new connection is closed on accept, counted, and the room comes back when one closes; an
 * established WebSocket session (its socket has left the engine) still counts.
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import { registerConnectionMetrics } from '../../sidecar/connection-metrics.js';
import type { Inbound } from '../../sidecar/inbound.js';
import { RawClient, until } from '../support/raw-http.js';
import { startInbound, Upstream } from './inbound-support.js';

const HEADER_MS = 600;
const IDLE_MS = 400;
/** Far beyond either timeout: a connection still open this long after its first byte was not cut by them. */
const TRICKLE_FOR_MS = 4_000;

/** Writes `first`, then `each` every 100 ms until the server closes or TRICKLE_FOR_MS; resolves with ms from the first write to the close. */
async function trickle(port: number, first: string, each: string): Promise<{ client: RawClient; ms: number }> {
  const client = await RawClient.connect(port);
  const t0 = performance.now();
  if (first !== '') client.write(first);
  const timer = setInterval(() => {
    if (!client.closed && performance.now() - t0 < TRICKLE_FOR_MS) client.write(each);
  }, 100);
  try {
    await until(() => client.closed, 'the server to close the connection', TRICKLE_FOR_MS + 2_000);
  } finally {
    clearInterval(timer);
  }
  return { client, ms: performance.now() - t0 };
}

describe('client connections: timeouts', () => {
  let up: Upstream;
  let inbound: Inbound;

  beforeAll(async () => {
    up = await Upstream.start();
    up.hold = () => false;
    ({ inbound } = await startInbound(up.url, { limits: { headerTimeoutMs: HEADER_MS, idleTimeoutMs: IDLE_MS } }));
  });
  afterAll(async () => {
    await inbound.close();
    await new Promise((r) => up.server.close(r));
  });

  it('a head trickled a byte at a time gets 408 and is closed headerTimeoutMs after its first byte: trickling does not extend it', async () => {
    const { client, ms } = await trickle(inbound.port, 'GET / HTTP/1.1\r\nhost: a\r\nx-slow: ', 'a');
    expect(client.got).toBe('HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    expect(ms).toBeGreaterThanOrEqual(HEADER_MS - 20);
    expect(ms).toBeLessThan(TRICKLE_FOR_MS / 2);
    expect(up.arrivals).toEqual([]);
  });

  it('the second head on a kept-alive connection has its own deadline from its own first byte', async () => {
    const client = await RawClient.connect(inbound.port);
    client.write('GET /first HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => client.got.endsWith('ok'), 'the first answer');
    const t0 = performance.now();
    client.write('GET /second HTTP/1.1\r\n');
    const timer = setInterval(() => client.write('x'), 100);
    try {
      await until(() => client.closed, 'the server to close the connection', TRICKLE_FOR_MS);
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - t0;
    expect(client.got).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*okHTTP\/1\.1 408 Request Timeout\r\n/);
    expect(ms).toBeGreaterThanOrEqual(HEADER_MS - 20);
    expect(ms).toBeLessThan(TRICKLE_FOR_MS / 2);
  });

  it('a connection that sends nothing is closed by the idle timeout, without an answer', async () => {
    const { client, ms } = await trickle(inbound.port, '', '');
    expect(client.got).toBe('');
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS - 20);
    expect(ms).toBeLessThan(HEADER_MS + 1_000);
  });

  it('empty lines alone (allowed before a request line) do not start a head: the idle timeout still closes it', async () => {
    const { client, ms } = await trickle(inbound.port, '\r\n', '\r\n');
    expect(client.got).toBe('');
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS - 20);
    expect(ms).toBeLessThan(TRICKLE_FOR_MS / 2);
  });
});

describe('client connections: the cap', () => {
  const CAP = 3;
  let up: Upstream;
  let inbound: Inbound;
  let registry: Registry;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    up = await Upstream.start();
    up.hold = () => false;
    ({ inbound } = await startInbound(up.url, { limits: { maxConnections: CAP } }));
    registry = new Registry();
    registerConnectionMetrics(registry, { inbound: inbound.connections });
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await inbound.close();
    await new Promise((r) => up.server.close(r));
  });

  /** A connection beyond the cap: the handshake completes in the kernel, then node:net closes it before any byte. */
  function refusedConnection(): Promise<{ got: string }> {
    return new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port: inbound.port });
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => resolve({ got }));
    });
  }

  it('beyond maxConnections a new connection is closed on accept and counted; closing one makes room', async () => {
    for (let i = 0; i < CAP; i++) clients.push(await RawClient.connect(inbound.port));
    const opened = Date.now() + 5_000;
    while ((await inbound.connections.open()) < CAP && Date.now() < opened) await new Promise((r) => setTimeout(r, 10));
    expect(await inbound.connections.open()).toBe(CAP);

    expect(await refusedConnection()).toEqual({ got: '' });
    expect(await refusedConnection()).toEqual({ got: '' });
    expect(inbound.connections.refused).toBe(2);
    const text = await registry.metrics();
    expect(text).toContain(`spillway_client_connections{listener="inbound"} ${CAP}`);
    expect(text).toContain(`spillway_client_connections_limit{listener="inbound"} ${CAP}`);
    expect(text).toContain('spillway_client_connections_refused_total{listener="inbound",reason="limit"} 2');

    // The connections under the cap are served as before.
    clients[0].write('GET /a HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => clients[0].got.endsWith('ok'), 'an answer on a connection under the cap');

    clients.pop()?.destroy();
    const deadline = Date.now() + 5_000;
    while ((await inbound.connections.open()) === CAP && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(await inbound.connections.open()).toBe(CAP - 1);
    const again = await RawClient.connect(inbound.port);
    clients.push(again);
    again.write('GET /b HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => again.got.endsWith('ok'), 'an answer on the new connection');
    expect(inbound.connections.refused).toBe(2);
  });
});

describe('client connections: WebSocket sessions count against the cap', () => {
  let up: Upstream;
  let wss: WebSocketServer;
  let inbound: Inbound;

  beforeAll(async () => {
    up = await Upstream.start();
    up.hold = () => false;
    wss = new WebSocketServer({ server: up.server });
    ({ inbound } = await startInbound(up.url, { limits: { maxConnections: 1 } }));
  });
  afterAll(async () => {
    await inbound.close();
    wss.close();
    await new Promise((r) => up.server.close(r));
  });

  it('an established session holds its place; when it closes, the next connection is served', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${inbound.port}/chat`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect(inbound.sessions.count).toBe(1);
    expect(await inbound.connections.open()).toBe(1);
    const beyond = await RawClient.connect(inbound.port);
    await until(() => beyond.closed, 'the connection beyond the cap to be closed');
    expect(beyond.got).toBe('');
    expect(inbound.connections.refused).toBe(1);

    ws.close();
    const deadline = Date.now() + 5_000;
    while ((await inbound.connections.open()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const next = await RawClient.connect(inbound.port);
    next.write('GET /after HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => next.got.endsWith('ok'), 'an answer after the session closed');
    expect(next.got).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    next.destroy();
  });
});

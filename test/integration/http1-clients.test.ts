/**
 * Real clients through the sidecar's engine: curl, Node fetch (undici), ws, and socket.io-client
 * (long polling first, then the upgrade to WebSocket) against a real socket.io server. What
 * they see must be what the app sent.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIoServer } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { WebSocket, WebSocketServer } from 'ws';
import type { Inbound } from '../../sidecar/inbound.js';
import { startInbound, waitFor } from './inbound-support.js';

/** The app: echoes method, path, the headers it got and the body; a ws echo on /ws; socket.io. */
function appHandler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url?.startsWith('/socket.io/')) return;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.url === '/chunked') {
      res.write('part1-');
      setTimeout(() => res.end('part2'), 5);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString('latin1'), remotePort: req.socket.remotePort }));
  });
}

function curl(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('curl', ['-sS', '--max-time', '20', ...args]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('real clients through the engine', () => {
  let app: Server;
  let io: SocketIoServer;
  let wss: WebSocketServer;
  let inbound: Inbound;
  let base: string;

  beforeAll(async () => {
    app = createServer(appHandler);
    io = new SocketIoServer(app);
    io.on('connection', (s) => {
      s.on('echo', (msg: unknown, ack: (x: unknown) => void) => ack({ msg, transport: s.conn.transport.name }));
    });
    wss = new WebSocketServer({ noServer: true });
    app.on('upgrade', (req, socket, head) => {
      if (req.url === '/ws') wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    ({ inbound } = await startInbound(`http://127.0.0.1:${(app.address() as AddressInfo).port}`));
    base = `http://127.0.0.1:${inbound.port}`;
  });
  afterAll(async () => {
    await inbound.close();
    wss.close();
    await io.close();
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
  });

  it('curl: GET, POST, chunked upload, HTTP/1.0, a chunked answer, and connection reuse', async () => {
    const get = await curl(['-H', 'x-spillway-class: vip', `${base}/a?b=c`]);
    expect(get.code).toBe(0);
    const seen = JSON.parse(get.out) as { method: string; url: string; headers: Record<string, string> };
    expect(seen).toMatchObject({ method: 'GET', url: '/a?b=c' });
    expect(seen.headers['x-spillway-class']).toBe('unconfigured');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');

    const post = await curl(['--data-binary', 'hello world', `${base}/p`]);
    expect(JSON.parse(post.out)).toMatchObject({ method: 'POST', body: 'hello world' });

    const chunked = await curl(['-H', 'transfer-encoding: chunked', '--data-binary', 'x'.repeat(100_000), `${base}/c`]);
    const c = JSON.parse(chunked.out) as { body: string; headers: Record<string, string> };
    expect(c.body.length).toBe(100_000);
    expect(c.headers['transfer-encoding']).toBe('chunked');

    const http10 = await curl(['-0', '-i', `${base}/old`]);
    expect(http10.out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(JSON.parse(http10.out.slice(http10.out.indexOf('\r\n\r\n') + 4))).toMatchObject({ url: '/old' });

    const streamed = await curl(['-i', `${base}/chunked`]);
    expect(streamed.out).toMatch(/transfer-encoding: chunked/i);
    expect(streamed.out.endsWith('part1-part2')).toBe(true);

    const reuse = await curl(['-v', `${base}/1`, `${base}/2`, `${base}/3`]);
    expect(reuse.code).toBe(0);
    expect(reuse.err).toMatch(/Re-using existing connection|Reusing existing/);
  });

  it('fetch (undici): keep-alive, a streamed request body, HEAD', async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${base}/f${i}`, { headers: { 'x-app': String(i) } });
      const j = (await r.json()) as { url: string; headers: Record<string, string>; remotePort: number };
      expect(j.url).toBe(`/f${i}`);
      expect(j.headers['x-app']).toBe(String(i));
      ports.add(j.remotePort);
    }
    // The sidecar pools its upstream connections: sequential requests reuse one.
    expect(ports.size).toBe(1);

    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 50; i++) controller.enqueue(new TextEncoder().encode(`piece-${i};`));
        controller.close();
      },
    });
    const r = await fetch(`${base}/stream`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    const j = (await r.json()) as { body: string };
    expect(j.body.split(';').length).toBe(51);

    const head = await fetch(`${base}/h`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('ws: a WebSocket session echoes text and binary frames, and is counted', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${inbound.port}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await waitFor(() => inbound.state().sessions === 1, 'one session');
    const got: string[] = [];
    ws.on('message', (m) => got.push(m.toString()));
    ws.send('hello');
    ws.send(Buffer.alloc(70_000, 'b'));
    await waitFor(() => got.length === 2, 'two echoes');
    expect(got[0]).toBe('hello');
    expect(got[1].length).toBe(70_000);
    ws.close();
    await waitFor(() => inbound.state().sessions === 0, 'session closed');
  });

  it('socket.io-client: long polling first, then the upgrade to WebSocket', async () => {
    const socket = ioClient(base, { transports: ['polling', 'websocket'], reconnection: false, forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const first = await socket.timeout(10_000).emitWithAck('echo', 'one');
      expect((first as { msg: string }).msg).toBe('one');
      await waitFor(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to websocket');
      const second = (await socket.timeout(10_000).emitWithAck('echo', 'two')) as { msg: string; transport: string };
      expect(second).toEqual({ msg: 'two', transport: 'websocket' });
      expect(inbound.state().sessions).toBe(1);
    } finally {
      socket.close();
    }
    await waitFor(() => inbound.state().sessions === 0, 'session closed');
  });
});

import { request } from 'node:http';
import WebSocket from 'ws';
import { startChatApp, type ChatApp } from '../../e2e/apps/chat-app.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

/** One request on a fresh connection (no keep-alive left behind for jest). */
function call(app: ChatApp, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(`${app.url}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          ms: Date.now() - started,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('demo chat app', () => {
  let app: ChatApp | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  it('serves login, background login, messages, sync; 404 otherwise', async () => {
    app = await startChatApp({ workers: 10, loginMs: 5, backgroundLoginMs: 5, messageMs: 1, syncMs: 1 });
    expect((await call(app, 'POST', '/login')).body).toEqual({ ok: true, route: 'login' });
    expect((await call(app, 'POST', '/login', { 'x-login-kind': 'background' })).body).toEqual({
      ok: true,
      route: 'background-login',
    });
    expect((await call(app, 'POST', '/messages')).status).toBe(200);
    expect((await call(app, 'POST', '/messages/room-7')).status).toBe(200);
    expect((await call(app, 'GET', '/sync')).status).toBe(200);
    expect((await call(app, 'GET', '/nope')).status).toBe(404);
    expect(app.stats().served).toMatchObject({ login: 1, 'background-login': 1, messages: 2, sync: 1 });
  });

  it('holds a long poll until a message on its room, or until pollHoldMs; polls hold no worker', async () => {
    app = await startChatApp({ workers: 1, messageMs: 1, pollHoldMs: 1500 });
    const released = call(app, 'GET', '/socket.io/?EIO=4&transport=polling&room=r1');
    const idle = call(app, 'GET', '/socket.io/?EIO=4&transport=polling&room=r2');
    await new Promise((r) => setTimeout(r, 100));
    expect(app.stats().polls).toBe(2);
    expect(app.stats().pool.busy).toBe(0);
    expect((await call(app, 'POST', '/messages/r1')).status).toBe(200);
    const a = await released;
    expect(a.body).toMatchObject({ route: 'poll', messages: 1 });
    expect(a.ms).toBeLessThan(1000);
    const b = await idle;
    expect(b.body).toMatchObject({ route: 'poll', messages: 0 });
    expect(b.ms).toBeGreaterThanOrEqual(1400);
    expect(app.stats().polls).toBe(0);
  });

  it('a saturated pool queues work FIFO and its dependency slows down: latency grows with load', async () => {
    app = await startChatApp({ workers: 4, loginMs: 40, loadFactor: 1 });
    const alone = await call(app, 'POST', '/login');
    const burst = await Promise.all(Array.from({ length: 40 }, () => call(app!, 'POST', '/login')));
    const slowest = Math.max(...burst.map((a) => a.ms));
    // 40 logins on 4 workers: at least 10 rounds of 40 ms × 2 (every worker busy).
    expect(slowest).toBeGreaterThan(600);
    expect(slowest).toBeGreaterThan(4 * alone.ms);
    expect(burst.every((a) => a.status === 200)).toBe(true);
    expect(app.stats().pool.maxBacklogSeen).toBeGreaterThan(20);
    // More workers: the same burst drains much faster.
    expect((await call(app, 'POST', '/_admin/workers?n=40')).body).toEqual({ workers: 40 });
    const wide = await Promise.all(Array.from({ length: 40 }, () => call(app!, 'POST', '/login')));
    expect(Math.max(...wide.map((a) => a.ms))).toBeLessThan(slowest / 2);
  });

  it('slows the message path on command (the New Year switch)', async () => {
    app = await startChatApp({ workers: 10, messageMs: 5, loadFactor: 0 });
    expect((await call(app, 'POST', '/messages')).ms).toBeLessThan(200);
    expect((await call(app, 'POST', '/_admin/message-latency?ms=300')).body).toEqual({ messageMs: 300 });
    expect((await call(app, 'POST', '/messages')).ms).toBeGreaterThanOrEqual(290);
    app.setMessageLatency(5);
    expect(app.stats().messageMs).toBe(5);
    expect((await call(app, 'POST', '/_admin/message-latency?ms=oops')).status).toBe(400);
  });

  it('keeps WebSocket sessions with a heartbeat, counts them, and can drop them', async () => {
    app = await startChatApp({ heartbeatMs: 50 });
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}/ws`);
    const received: string[] = [];
    ws.on('message', (data) => received.push((JSON.parse(String(data)) as { type: string }).type));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(received[0]).toBe('welcome');
    expect(received.filter((t) => t === 'hb').length).toBeGreaterThanOrEqual(2);
    expect((await call(app, 'GET', '/_admin/sessions')).body).toEqual({ sessions: 1 });
    expect(app.stats().pool.busy).toBe(0);
    const closed = new Promise((resolve) => ws.once('close', resolve));
    expect((await call(app, 'POST', '/_admin/drop-sessions?count=5')).body).toEqual({ dropped: 1 });
    await closed;
    expect(app.stats().sessions).toBe(0);
  });
});

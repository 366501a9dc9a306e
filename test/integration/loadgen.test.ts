import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startChatApp, type ChatApp } from '../../e2e/apps/chat-app.js';
import { formatSummary, LogHistogram, runLoad } from '../../e2e/loadgen/index.js';

/** A plain server on port 0 whose handler the test chooses; every socket is closed afterwards. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

describe('LogHistogram', () => {
  it('gives percentiles within its bucket resolution', () => {
    const h = new LogHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    expect(h.count).toBe(1000);
    expect(h.percentile(0.5)).toBeGreaterThanOrEqual(500);
    expect(h.percentile(0.5)).toBeLessThan(560);
    expect(h.percentile(0.99)).toBeGreaterThanOrEqual(990);
    expect(h.percentile(0.99)).toBeLessThan(1100);
    expect(new LogHistogram().percentile(0.5)).toBeNull();
  });
});

describe('open-loop load generator', () => {
  const servers: Server[] = [];
  let app: ChatApp | null = null;
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(shut));
    await app?.close();
    app = null;
  });

  it('fires on schedule against a slow server, whether or not earlier requests answered', async () => {
    const { server, url } = await serve((req, res) => {
      req.resume();
      setTimeout(() => res.end('ok'), 700);
    });
    servers.push(server);
    const started = Date.now();
    const report = await runLoad({
      target: url,
      classes: [{ name: 'slow', method: 'POST', path: '/x', body: 'hi', timeoutMs: 3000 }],
      phases: [
        { name: 'low', durationMs: 1000, rates: { slow: 20 } },
        { name: 'high', durationMs: 1000, rates: { slow: 60 } },
      ],
    });
    const [low, high] = report.phases;
    // A closed loop with one connection would manage ~3 in 2 s; open loop sends 20 then 60.
    expect(low.classes.slow.sent).toBeGreaterThanOrEqual(15);
    expect(low.classes.slow.sent).toBeLessThanOrEqual(25);
    expect(high.classes.slow.sent).toBeGreaterThanOrEqual(45);
    expect(high.classes.slow.sent).toBeLessThanOrEqual(75);
    expect(high.classes.slow.succeeded).toBe(high.classes.slow.sent);
    expect(high.classes.slow.p50).toBeGreaterThanOrEqual(650);
    expect(report.seconds.map((s) => s.phase)).toEqual(['low', 'high']);
    // Bounded: the last phase plus the in-flight answers, not more.
    expect(Date.now() - started).toBeLessThan(6000);
    expect(formatSummary(report)).toContain('slow');
  });

  it('counts timeouts, refusals by reason (with Retry-After honoured) and the in-flight guard', async () => {
    const { server, url } = await serve((req, res) => {
      req.resume();
      if (req.url === '/hang') return; // never answers
      res.writeHead(503, { 'x-spillway-reason': 'capacity', 'retry-after': '0.2' });
      res.end('{}');
    });
    servers.push(server);
    const report = await runLoad({
      target: url,
      classes: [
        { name: 'hang', method: 'GET', path: '/hang', timeoutMs: 300 },
        { name: 'guarded', method: 'GET', path: '/hang', timeoutMs: 1500, maxInFlight: 5 },
        { name: 'shed', method: 'GET', path: '/shed', retryAfter: { maxRetries: 1 } },
      ],
      phases: [{ name: 'only', durationMs: 1000, rates: { hang: 20, guarded: 20, shed: 10 } }],
    });
    const { hang, guarded, shed } = report.phases[0].classes;
    expect(hang.timeouts).toBe(hang.sent);
    expect(hang.sent).toBeGreaterThanOrEqual(15);
    expect(hang.succeeded).toBe(0);
    expect(guarded.sent).toBe(5);
    expect(guarded.droppedByClient).toBeGreaterThanOrEqual(10);
    // Each first refusal is retried once, 200 ms later (within the 1 s run for most of them).
    expect(shed.retries).toBeGreaterThanOrEqual(5);
    expect(shed.shed.capacity).toBe(shed.sent);
    expect(shed.failed).toBe(0);
  });

  it('keeps WebSocket sessions open and reconnects them after a server-side drop', async () => {
    app = await startChatApp({ heartbeatMs: 100, syncMs: 1 });
    const target = app;
    const dropped = new Promise<number>((resolve) => setTimeout(() => resolve(target.dropSessions(5)), 1000));
    const report = await runLoad({
      target: app.url,
      classes: [{ name: 'sync', method: 'GET', path: '/sync' }],
      phases: [{ name: 'only', durationMs: 3000, rates: { sync: 5 } }],
      sessions: { path: '/ws', count: 5, reconnectDelayMs: 100, heartbeatTimeoutMs: 5000 },
    });
    expect(await dropped).toBe(5);
    const all = report.phases[0].sessions;
    expect(all.dropped).toBe(5);
    expect(all.connects).toBeGreaterThanOrEqual(10);
    expect(all.open).toBe(5);
    expect(report.phases[0].classes.sync.succeeded).toBe(report.phases[0].classes.sync.sent);
    // The client closed its sessions at the end: the app sees none left.
    await new Promise((r) => setTimeout(r, 100));
    expect(app.stats().sessions).toBe(0);
  });
});

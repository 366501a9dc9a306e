/**
 * The demo chat app: the workload Spillway protects in the demo and the incident scenarios.
 *
 * Requests that do work hold a worker of a bounded pool (see worker-pool.ts) for their service
 * time; long polls and WebSocket sessions hold none, as in a real socket.io/Netty chat server.
 *
 *   POST /login                      foreground login (heavy)
 *   POST /login + x-login-kind: background   reconnect after a push (same cost)
 *   POST /messages[/<room>]          send a message (releases long polls on that room)
 *   GET  /sync                       fetch missed messages (light)
 *   GET  /socket.io/?transport=polling[&room=R]  held until a message on R or pollHoldMs
 *   WS   /ws                         a session; the app sends {"type":"hb"} every heartbeatMs
 *   GET  /_admin/stats, /_admin/sessions
 *   POST /_admin/message-latency?ms=600, /_admin/workers?n=50, /_admin/drop-sessions?count=10
 *
 * Admin routes hold no worker, so a saturated app can still be observed and steered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WorkerPool, type WorkerPoolStats } from './worker-pool.js';

export interface ChatAppOptions {
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  /** Worker slots (default 100). */
  workers?: number;
  /** Dependency slowdown at full load: service × (1 + loadFactor × busy/workers). Default 1. */
  loadFactor?: number;
  /** Requests waiting for a worker beyond this are answered 503 (default 10000). */
  maxBacklog?: number;
  loginMs?: number;
  backgroundLoginMs?: number;
  messageMs?: number;
  syncMs?: number;
  pollHoldMs?: number;
  heartbeatMs?: number;
}

export interface ChatAppStats {
  pool: WorkerPoolStats;
  messageMs: number;
  sessions: number;
  polls: number;
  /** Completed requests per route. */
  served: Record<RouteName, number>;
  /** Requests whose client was gone by the time the work finished (wasted work). */
  abandoned: number;
}

export interface ChatApp {
  port: number;
  url: string;
  stats(): ChatAppStats;
  /** The New Year switch: the message path's base service time (10 ms → 600 ms). */
  setMessageLatency(ms: number): void;
  setWorkers(n: number): void;
  /** Closes up to `count` WebSocket sessions from the server side; returns how many. */
  dropSessions(count: number): number;
  close(): Promise<void>;
}

type RouteName = 'login' | 'background-login' | 'messages' | 'sync' | 'poll';

const DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  workers: 100,
  loadFactor: 1,
  maxBacklog: 10_000,
  loginMs: 40,
  backgroundLoginMs: 40,
  messageMs: 10,
  syncMs: 5,
  pollHoldMs: 25_000,
  heartbeatMs: 1_000,
} satisfies Required<ChatAppOptions>;

const JSON_HEADERS = { 'content-type': 'application/json' };

export async function startChatApp(options: ChatAppOptions = {}): Promise<ChatApp> {
  const opts = { ...DEFAULTS, ...options };
  const pool = new WorkerPool({ workers: opts.workers, loadFactor: opts.loadFactor, maxBacklog: opts.maxBacklog });
  let messageMs = opts.messageMs;
  const served: Record<RouteName, number> = { login: 0, 'background-login': 0, messages: 0, sync: 0, poll: 0 };
  let abandoned = 0;
  const polls = new Map<string, Set<ServerResponse>>();
  let pollCount = 0;
  const wss = new WebSocketServer({ noServer: true });

  function reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function work(route: RouteName, baseMs: number, res: ServerResponse, onDone?: () => void): void {
    const admitted = pool.submit(baseMs, () => {
      served[route]++;
      onDone?.();
      if (res.destroyed) abandoned++;
      else reply(res, 200, { ok: true, route });
    });
    if (!admitted) reply(res, 503, { ok: false, error: 'backlog full' });
  }

  function releasePolls(room: string): void {
    const waiting = polls.get(room);
    if (!waiting) return;
    polls.delete(room);
    for (const res of waiting) {
      waiting.delete(res);
      pollCount--;
      served.poll++;
      reply(res, 200, { ok: true, route: 'poll', messages: 1 });
    }
  }

  function holdPoll(room: string, res: ServerResponse): void {
    let waiting = polls.get(room);
    if (!waiting) polls.set(room, (waiting = new Set()));
    waiting.add(res);
    pollCount++;
    const timer = setTimeout(() => {
      if (!waiting.delete(res)) return;
      pollCount--;
      served.poll++;
      reply(res, 200, { ok: true, route: 'poll', messages: 0 });
    }, opts.pollHoldMs);
    res.once('close', () => {
      clearTimeout(timer);
      if (waiting.delete(res)) pollCount--;
    });
  }

  function admin(path: string, query: URLSearchParams, method: string, res: ServerResponse): void {
    const num = (name: string): number => Number(query.get(name));
    if (method === 'GET' && path === '/_admin/stats') return reply(res, 200, stats());
    if (method === 'GET' && path === '/_admin/sessions') return reply(res, 200, { sessions: wss.clients.size });
    if (method === 'POST' && path === '/_admin/message-latency' && num('ms') >= 0 && query.has('ms')) {
      messageMs = num('ms');
      return reply(res, 200, { messageMs });
    }
    if (method === 'POST' && path === '/_admin/workers' && Number.isInteger(num('n')) && num('n') >= 1) {
      pool.setWorkers(num('n'));
      return reply(res, 200, { workers: num('n') });
    }
    if (method === 'POST' && path === '/_admin/drop-sessions' && num('count') >= 0 && query.has('count')) {
      return reply(res, 200, { dropped: dropSessions(num('count')) });
    }
    reply(res, 400, { ok: false, error: 'unknown admin command or bad parameter' });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/login') {
      const background = req.headers['x-login-kind'] === 'background';
      if (background) work('background-login', opts.backgroundLoginMs, res);
      else work('login', opts.loginMs, res);
      return;
    }
    if (method === 'POST' && (path === '/messages' || path.startsWith('/messages/'))) {
      const room = path.length > '/messages/'.length ? path.slice('/messages/'.length) : 'lobby';
      work('messages', messageMs, res, () => releasePolls(room));
      return;
    }
    if (method === 'GET' && path === '/sync') return work('sync', opts.syncMs, res);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    if (method === 'GET' && path === '/socket.io/' && query.get('transport') === 'polling') {
      return holdPoll(query.get('room') ?? 'lobby', res);
    }
    if (path.startsWith('/_admin/')) return admin(path, query, method, res);
    reply(res, 404, { ok: false, error: 'not found' });
  }

  function dropSessions(count: number): number {
    let n = 0;
    for (const ws of wss.clients) {
      if (n >= count) break;
      ws.terminate();
      n++;
    }
    return n;
  }

  function stats(): ChatAppStats {
    return {
      pool: pool.stats(),
      messageMs,
      sessions: wss.clients.size,
      polls: pollCount,
      served: { ...served },
      abandoned,
    };
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, handle);
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on('error', () => ws.terminate());
      ws.send(JSON.stringify({ type: 'welcome' }));
    });
  });
  const heartbeatText = JSON.stringify({ type: 'hb' });
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) ws.send(heartbeatText);
  }, opts.heartbeatMs);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    url: `http://${opts.host}:${port}`,
    stats,
    setMessageLatency(ms: number) {
      messageMs = ms;
    },
    setWorkers: (n: number) => pool.setWorkers(n),
    dropSessions,
    async close() {
      clearInterval(heartbeat);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      for (const waiting of polls.values()) for (const res of waiting) res.destroy();
      polls.clear();
      pool.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

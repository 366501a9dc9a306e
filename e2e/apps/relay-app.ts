/**
 * The relay demo app (the message platform's notification relay): `POST /notify` with JSON
 * `{user, text, id}` sends a push through the sidecar's egress, `POST <egress>/push/send` with
 * `Idempotency-Key: <id>`, and answers with what the egress answered: the vendor's reply, a
 * duplicate marked `x-spillway-duplicate`, a `202` deferred send, or a refusal with its reason.
 *
 * In-process: `const app = await startRelayApp({ egressUrl: 'http://127.0.0.1:17002' })`.
 * As a process: `node dist/e2e/apps/relay-app.js --port 8080 --egress http://127.0.0.1:17002`
 * (prints `listening <port>`).
 */
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface RelayAppOptions {
  /** The egress base URL, e.g. http://127.0.0.1:17002. */
  egressUrl: string;
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
}

export interface RelayApp {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Request bodies above this are refused (a notification is small). */
const MAX_BODY = 64 * 1024;
/** Egress reply headers passed back to the caller. */
const PASSED_HEADERS = ['content-type', 'retry-after', 'x-vendor'];

interface Notification {
  user: string;
  text: string;
  id: string;
}

export async function startRelayApp(o: RelayAppOptions): Promise<RelayApp> {
  const egress = new URL('/push/send', o.egressUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });

  const send = (n: Notification, res: ServerResponse): void => {
    const body = JSON.stringify({ to: n.user, text: n.text });
    const out = request(
      egress,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': n.id },
      },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, passed(reply.headers));
        reply.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) reply(res, 502, { error: 'egress unreachable' });
      else res.destroy();
    });
    out.end(body);
  };

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/notify') {
      reply(res, 404, { error: 'POST /notify' });
      req.resume();
      return;
    }
    readJson(req).then(
      (value) => {
        const n = notification(value);
        if (n) send(n, res);
        else reply(res, 400, { error: 'body must be JSON {user, text, id} (strings, id non-empty)' });
      },
      () => reply(res, 400, { error: 'body must be JSON of at most 64 KiB' }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}

function passed(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(h)) {
    if (value !== undefined && (name.startsWith('x-spillway-') || PASSED_HEADERS.includes(name))) out[name] = value;
  }
  return out;
}

function notification(v: unknown): Notification | null {
  if (typeof v !== 'object' || v === null) return null;
  const { user, text, id } = v as Record<string, unknown>;
  if (typeof user !== 'string' || typeof text !== 'string' || typeof id !== 'string' || id === '') return null;
  return { user, text, id };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

function reply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await startRelayApp({ egressUrl: arg('egress') ?? 'http://127.0.0.1:17002', port: Number(arg('port') ?? 0), host: arg('host') });
  console.log(`listening ${app.port}`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

/**
 * The protected app for the protection benchmarks: a fixed pool of worker slots, each request
 * holding one for a fixed service time, and an unbounded FIFO backlog beyond (like a thread-pool
 * server's accept queue). Capacity = slots / serviceMs; beyond it every request waits.
 * Run: node dist/bench/slow-upstream.js <port> [slots=100] [serviceMs=20]
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

const BODY = Buffer.from('{"ok":true}\n');
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

export function startSlowUpstream(port: number, slots = 100, serviceMs = 20): Promise<Server> {
  let busy = 0;
  const backlog: ServerResponse[] = [];
  let head = 0;

  const finish = (res: ServerResponse): void => {
    if (!res.destroyed) res.writeHead(200, HEADERS).end(BODY);
    busy--;
    next();
  };
  const serve = (res: ServerResponse): void => {
    busy++;
    setTimeout(finish, serviceMs, res);
  };
  const next = (): void => {
    while (busy < slots && head < backlog.length) {
      const res = backlog[head++];
      if (!res.destroyed) serve(res); // a client that gave up while waiting costs no slot
    }
    if (head > 4096 && head * 2 > backlog.length) {
      backlog.splice(0, head);
      head = 0;
    }
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume(); // drain the body; the work is the service time
    if (busy < slots) serve(res);
    else backlog.push(res);
  };
  const server = createServer(onRequest);
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, slots, serviceMs] = process.argv.slice(2).map(Number);
  void startSlowUpstream(port, slots || 100, serviceMs || 20);
}

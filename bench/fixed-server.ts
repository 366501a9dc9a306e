/**
 * A node:http server that refuses every request with a fixed 503 JSON body and does nothing
 * else: the least CPU any node:http-based proxy can spend on a refusal (the floor the sidecar's
 * rejection cost is compared with).
 * Run: node dist/bench/fixed-server.js <port>
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';

const BODY = Buffer.from('{"error":"overloaded","reason":"capacity"}\n');
const HEADERS = ['content-type', 'application/json', 'content-length', String(BODY.length), 'retry-after', '1'];

export function startFixedServer(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(503, HEADERS).end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  void startFixedServer(Number(process.argv[2]));
}

/**
 * The baseline: the least a Node reverse proxy can do (node:http server, node:http client with
 * a keep-alive Agent, bodies streamed both ways; upgrades piped as raw sockets). The sidecar's
 * CPU and memory are measured against it.
 * Run: node dist/bench/bare-proxy.js <listenPort> <upstreamUrl>
 */
import { createServer, request, Agent, type Server } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

export function startBareProxy(listenPort: number, upstream: string): Promise<Server> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((req, res) => {
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.on('upgrade', (req, socket, head) => {
    const up = connect(Number(target.port), target.hostname, () => {
      let raw = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(raw + '\r\n');
      if (head.length > 0) up.write(head);
      up.pipe(socket).pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(listenPort, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  void startBareProxy(Number(process.argv[2]), process.argv[3] ?? 'http://127.0.0.1:8080');
}

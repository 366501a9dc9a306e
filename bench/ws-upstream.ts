/**
 * The WebSocket app for the memory benchmark: accepts sessions and keeps them idle; plain HTTP
 * requests get a fixed 200 (so the sidecar can be warmed up with ordinary traffic).
 * Run: node dist/bench/ws-upstream.js <port>
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

export function startWsUpstream(port: number): Promise<() => Promise<void>> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' }).end('ok\n');
  });
  // No per-message deflate: its zlib contexts would dominate the memory being measured.
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: true });
  wss.on('connection', (ws) => ws.on('error', () => ws.terminate()));
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', 4096, () =>
      resolve(async () => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        await new Promise((r) => server.close(r));
      }),
    ),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  void startWsUpstream(Number(process.argv[2]));
}

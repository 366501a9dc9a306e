/**
 * Opens N idle WebSocket sessions (a bounded number of handshakes at a time), prints one JSON
 * line {"open":n,"failed":m} once all handshakes are settled, and keeps the sessions until killed.
 * Run: node dist/bench/ws-clients.js <url> <count> [parallel=200]
 */
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export async function openSessions(url: string, count: number, parallel = 200): Promise<{ sockets: WebSocket[]; failed: number }> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 20_000 });
      ws.once('open', () => {
        sockets.push(ws);
        resolve();
      });
      ws.once('error', () => {
        failed++;
        resolve();
      });
    });
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
  return { sockets, failed };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, count, parallel] = process.argv.slice(2);
  void openSessions(url, Number(count), Number(parallel) || 200).then(({ sockets, failed }) => {
    process.stdout.write(JSON.stringify({ open: sockets.length, failed }) + '\n');
  });
}

/**
 * A forced full GC in another Node process, through its inspector (`node --inspect=127.0.0.1:PORT`),
 * and that process's memoryUsage() right after. Without it an RSS or heap reading counts
 * whatever garbage the last burst of work left (for WebSocket sessions: every handshake's
 * request, response and parser objects), not what stays alive.
 */
import WebSocket from 'ws';

export interface MemoryUsage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

interface Reply {
  id: number;
  result?: { result?: { value?: unknown } };
  error?: { message: string };
}

export async function gcAndMeasure(inspectPort: number): Promise<MemoryUsage> {
  const list = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  try {
    let nextId = 1;
    const call = (method: string, params: object = {}): Promise<Reply> =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`inspector: ${method} timed out`)), 30_000);
        const onMessage = (data: WebSocket.RawData): void => {
          const m = JSON.parse(String(data)) as Reply;
          if (m.id !== id) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          if (m.error) reject(new Error(`inspector: ${m.error.message}`));
          else resolve(m);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method, params }));
      });
    // Twice: the first pass runs finalizers that free more on the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    return JSON.parse(String(r.result?.result?.value)) as MemoryUsage;
  } finally {
    ws.close();
  }
}

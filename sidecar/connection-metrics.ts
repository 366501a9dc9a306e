/**
 * Client connections per listener (inbound, egress): open now, the cap, and those closed on
 * accept because the cap was reached. Read from the engine at scrape time; nothing on the hot path.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConnectionCounts } from './http1/server.js';

export function registerConnectionMetrics(registry: Registry, listeners: Readonly<Record<string, ConnectionCounts>>): void {
  const registers = [registry];
  const entries = Object.entries(listeners);
  new Gauge({
    name: 'spillway_client_connections',
    help: 'Open client connections per listener (inbound, egress), WebSocket sessions included.',
    labelNames: ['listener'],
    registers,
    async collect() {
      const open = await Promise.all(entries.map(([, c]) => c.open()));
      entries.forEach(([listener], i) => this.set({ listener }, open[i]));
    },
  });
  new Gauge({
    name: 'spillway_client_connections_limit',
    help: 'Open client connections a listener allows (--max-client-connections); beyond, new ones are closed on accept.',
    labelNames: ['listener'],
    registers,
    collect() {
      for (const [listener, c] of entries) this.set({ listener }, c.limits.maxConnections);
    },
  });
  new Counter({
    name: 'spillway_client_connections_refused_total',
    help: 'Client connections closed on accept, by listener and reason (limit: --max-client-connections were open).',
    labelNames: ['listener', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const [listener, c] of entries) this.labels(listener, 'limit').inc(c.refused);
    },
  });
}

/**
 * The admin port: Prometheus metrics, liveness, readiness, the config in force and the live
 * data-plane state. Express is fine here: this is not the request hot path.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { Registry } from 'prom-client';
import type { ConfigView } from './config/store.js';
import type { DataPlane } from './contracts.js';

export interface AdminDeps {
  registry: Registry;
  /** The config in force (ConfigStore.view), or null when unconfigured. */
  config: () => ConfigView | null;
  dataPlane: Pick<DataPlane, 'state'>;
  /** True once shutdown began: readiness fails so the endpoint leaves the Service first. */
  draining: () => boolean;
  /**
   * Off by default (absent or afterS 0: ready only once a config is in force). Set: after afterS
   * seconds since startedAt with no config, /readyz answers 200 so a workload without a
   * TrafficPolicy still rolls out; the data plane passes traffic through unlimited meanwhile.
   */
  readyWithoutConfig?: { afterS: number; startedAt: number; now?: () => number };
}

export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/metrics', async (_req, res) => {
    const body = await deps.registry.metrics();
    res.set('Content-Type', deps.registry.contentType).send(body);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  const grace = deps.readyWithoutConfig && deps.readyWithoutConfig.afterS > 0 ? deps.readyWithoutConfig : null;
  const graceEndsAt = grace ? grace.startedAt + grace.afterS * 1000 : Infinity;
  const now = grace?.now ?? Date.now;
  const unconfiguredReady = grace ? { ready: true, config: 'none', reason: `no config after ${grace.afterS}s: passing traffic through unlimited` } : null;

  app.get('/readyz', (_req, res) => {
    if (deps.draining()) {
      res.status(503).json({ ready: false, reason: 'shutting down' });
      return;
    }
    const c = deps.config();
    if (!c) {
      if (unconfiguredReady && now() >= graceEndsAt) {
        res.json(unconfiguredReady);
        return;
      }
      res.status(503).json({ ready: false, reason: 'no config in force yet' });
      return;
    }
    res.json({ ready: true, source: c.source, version: c.version });
  });

  app.get('/config', (_req, res) => {
    const c = deps.config();
    if (!c) {
      res.status(404).json({ error: 'no config in force' });
      return;
    }
    res.json(c);
  });

  app.get('/state', (_req, res) => {
    res.json(deps.dataPlane.state());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found', endpoints: ['/metrics', '/healthz', '/readyz', '/config', '/state'] });
  });

  return app;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

export async function startAdmin(deps: AdminDeps, port: number, host: string): Promise<AdminServer> {
  const server: Server = createAdminApp(deps).listen(port, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections(); // scrapers keep connections alive; do not wait for them
      await closed;
    },
  };
}

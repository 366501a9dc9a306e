/**
 * The admin port: Prometheus metrics, liveness, readiness, the config in force and the live
 * data-plane state. Express is fine here: this is not the request hot path.
 *
 * /config and /state are internals (classes, limits, vendors, policy names): they are served only
 * on connections made to the internals address (--admin-internals-address, default 127.0.0.1:
 * the pod's loopback, which kubectl port-forward and kubectl exec reach). The check is on the
 * socket's local address as the kernel reports it, never on a header (Host, X-Forwarded-For),
 * so a request from another pod to the pod IP cannot pass it. One server on one port rather
 * than a second loopback listener: a listener on 127.0.0.1 cannot share the admin port with one
 * on 0.0.0.0 (EADDRINUSE), and a second port would change what probes and docs point at.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
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
  /**
   * The local address /config and /state are served on (default 127.0.0.1, which also admits
   * ::1: both are the pod's loopback); `0.0.0.0` or `::`: on every address.
   */
  internalsAddress?: string;
}

const ANY_ADDRESS = new Set(['0.0.0.0', '::']);
const LOOPBACK = new Set(['127.0.0.1', '::1']);

/** Whether a connection made to `local` may see the internals served on `allowed`. */
export function internalsAllowed(allowed: string, local: string | undefined): boolean {
  if (ANY_ADDRESS.has(allowed)) return true;
  if (local === undefined) return false;
  const addr = local.startsWith('::ffff:') ? local.slice(7) : local;
  return addr === allowed || (LOOPBACK.has(allowed) && LOOPBACK.has(addr));
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

  const internalsAddress = deps.internalsAddress ?? '127.0.0.1';
  const internalsRefusal = {
    error: `served on ${internalsAddress} only: use kubectl port-forward or kubectl exec (docs/sidecar.md#admin-port)`,
  };
  const internalsOnly = (req: Request, res: Response, next: NextFunction): void => {
    if (internalsAllowed(internalsAddress, req.socket.localAddress)) next();
    else res.status(403).json(internalsRefusal);
  };

  app.get('/config', internalsOnly, (_req, res) => {
    const c = deps.config();
    if (!c) {
      res.status(404).json({ error: 'no config in force' });
      return;
    }
    res.json(c);
  });

  app.get('/state', internalsOnly, (_req, res) => {
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

/**
 * The admission webhook's HTTPS server (node:https): POST /mutate takes an AdmissionReview and
 * answers with operator/webhook.ts's review; GET /healthz. The certificate can be swapped
 * while serving (cert-manager rotation, a reissued self-signed certificate).
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../lib/log.js';
import { review, type InjectionSettings } from './webhook.js';
import type { WebhookKubeApi } from './kube-api.js';
import { ensureSharedCert, keepSharedCert, readCertDir, watchCertDir, type SharedCertOptions, type TlsPair } from './webhook-tls.js';

/** The API server sends at most ~3 MiB objects; anything larger is not an AdmissionReview. */
const MAX_BODY = 6 * 1024 * 1024;

export interface WebhookServerOptions {
  port: number;
  host?: string;
  tls: TlsPair;
  settings: InjectionSettings;
  log: Logger;
}

export interface WebhookServer {
  port: number;
  setCertificate(pair: TlsPair): void;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function handleMutate(req: IncomingMessage, res: ServerResponse, settings: InjectionSettings, log: Logger): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) {
      reply(res, 413, { error: 'request body too large' });
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (res.headersSent) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      reply(res, 400, { error: 'the body is not JSON' });
      return;
    }
    const result = review(body, settings);
    if (result.status === 400) {
      reply(res, 400, { error: result.error });
      return;
    }
    const r = result.body.response;
    // Injections and refusals to inject are rare and worth a line each; plain admissions are not.
    if (r.patch || r.warnings) log.info(r.patch ? 'sidecar injected' : 'sidecar not injected', { pod: podKey(body), ...(r.warnings ? { warnings: r.warnings } : {}) });
    reply(res, 200, result.body);
  });
}

/** `namespace/name` of the pod under review (`generateName*` before the API server names it). */
function podKey(body: unknown): string {
  const req = (body as { request?: { namespace?: string; object?: { metadata?: { name?: string; generateName?: string } } } }).request;
  const m = req?.object?.metadata;
  return `${req?.namespace ?? '?'}/${m?.name || `${m?.generateName ?? '?'}*`}`;
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<WebhookServer> {
  const server: Server = createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/mutate' && req.method === 'POST') handleMutate(req, res, o.settings, o.log);
    else if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) reply(res, 200, { ok: true });
    else reply(res, 404, { error: 'not found', endpoints: ['POST /mutate', 'GET /healthz'] });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCertificate: (pair) => {
      server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
      o.log.info('serving a new certificate');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ServeWebhookOptions {
  port: number;
  settings: InjectionSettings;
  /** Serve tls.crt/tls.key from here when present (reloaded on change). */
  certDir: string | undefined;
  /** Otherwise: the shared self-signed certificate (operator/webhook-tls.ts). */
  selfSigned: SharedCertOptions | undefined;
  kube: WebhookKubeApi;
  log: Logger;
  /** How often the certificate source is checked again (default 60 s; retries after a failure). */
  checkIntervalMs?: number;
}

/**
 * Starts the webhook once it has a certificate, retrying in the background until then (the
 * operator's controller does not wait for it); close() stops retrying, watching and serving.
 */
export function serveWebhook(o: ServeWebhookOptions): { ready: Promise<WebhookServer | null>; close(): Promise<void> } {
  const interval = o.checkIntervalMs ?? 60_000;
  let closed = false;
  let stopWatch: (() => void) | undefined;
  let server: WebhookServer | undefined;
  let retry: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      retry = setTimeout(resolve, ms);
    });

  async function certificate(): Promise<{ pair: TlsPair; watch: (s: WebhookServer) => () => void } | null> {
    const mounted = o.certDir ? readCertDir(o.certDir) : null;
    if (mounted && o.certDir) {
      const dir = o.certDir;
      return { pair: mounted, watch: (s) => watchCertDir(dir, mounted, Math.min(interval, 10_000), (p) => s.setCertificate(p)).stop };
    }
    if (!o.selfSigned) return null;
    const shared = o.selfSigned;
    const material = await ensureSharedCert(o.kube, shared);
    return { pair: material, watch: (s) => keepSharedCert(o.kube, shared, material, interval, (p) => s.setCertificate(p)).stop };
  }

  const ready = (async (): Promise<WebhookServer | null> => {
    let said = '';
    while (!closed) {
      let why: string;
      let cause: unknown;
      try {
        const c = await certificate();
        if (c && !closed) {
          server = await startWebhookServer({ port: o.port, tls: c.pair, settings: o.settings, log: o.log });
          stopWatch = c.watch(server);
          o.log.info('serving /mutate', { port: server.port, certificate: o.certDir && !o.selfSigned ? `from ${o.certDir}` : o.certDir ? `from ${o.certDir}, else self-signed` : 'self-signed' });
          return server;
        }
        why = `no tls.crt/tls.key in ${o.certDir ?? '(no --webhook-cert-dir)'} yet`;
      } catch (err) {
        why = err instanceof Error ? err.message : String(err);
        cause = err;
      }
      if (why !== said) o.log.warn('not serving yet; retrying', cause === undefined ? { reason: why } : { err: cause });
      said = why;
      await pause(Math.min(interval, 5_000));
    }
    return null;
  })();

  return {
    ready,
    close: async () => {
      closed = true;
      clearTimeout(retry);
      wake?.();
      await ready;
      stopWatch?.();
      await server?.close();
    },
  };
}

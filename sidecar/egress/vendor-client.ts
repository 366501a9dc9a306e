/**
 * One vendor endpoint: its keep-alive connection pool and a single timed attempt. The timeout
 * covers the whole exchange (a vendor that answers the headers and then stalls is cut too).
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { CompiledRoute } from '../../api/config.js';
import { classifyError, classifyStatus, type AttemptOutcome } from './outcome.js';

type CompiledVendor = CompiledRoute['vendors'][number];

export interface AttemptResult {
  outcome: AttemptOutcome;
  /** The vendor's response when it answered (its body not yet read). */
  res: IncomingMessage | null;
}

const TIMED_OUT = new Error('vendor timeout');

export class VendorTarget {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly hostname: string;
  private readonly port: number;
  private readonly host: string;
  private readonly basePath: string;

  constructor(v: CompiledVendor) {
    const u = new URL(v.url);
    const secure = u.protocol === 'https:';
    this.name = v.name;
    this.url = v.url;
    this.timeoutMs = v.timeoutMs;
    this.agent = secure ? new https.Agent({ keepAlive: true, noDelay: true }) : new http.Agent({ keepAlive: true, noDelay: true });
    this.request = secure ? https.request : http.request;
    this.hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port ? Number(u.port) : secure ? 443 : 80;
    this.host = u.host;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  }

  /** Sends once. `headers` must not carry hop-by-hop headers or host. */
  attempt(
    method: string,
    path: string,
    headers: OutgoingHttpHeaders,
    body: Buffer | Readable | null,
    timeoutMs: number,
    countClientErrors: boolean,
  ): Promise<AttemptResult> {
    return new Promise((resolve) => {
      let settled = false;
      headers.host = this.host;
      if (Buffer.isBuffer(body)) headers['content-length'] = body.length;
      const req = this.request({ agent: this.agent, hostname: this.hostname, port: this.port, method, path: this.basePath + path, headers });
      const timer = setTimeout(() => {
        req.destroy(TIMED_OUT);
        if (!settled) {
          settled = true;
          resolve({ outcome: 'timeout', res: null });
        }
      }, timeoutMs);
      req.on('response', (res: IncomingMessage) => {
        res.once('close', () => clearTimeout(timer));
        settled = true;
        resolve({ outcome: classifyStatus(res.statusCode ?? 502, countClientErrors), res });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        clearTimeout(timer);
        settled = true;
        resolve({ outcome: classifyError(err.code), res: null });
      });
      if (body === null) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }

  /** Closes every connection, busy or not. */
  destroy(): void {
    this.agent.destroy();
  }

  /** No new sends; closes the pool once every attempt on it must have ended (timeout passed). */
  retire(): void {
    setTimeout(() => this.agent.destroy(), this.timeoutMs + 1000).unref();
  }
}

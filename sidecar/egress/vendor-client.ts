/**
 * One vendor endpoint: its keep-alive connection pool, the request options fixed at config time,
 * and ONE timer for the timeouts of all its attempts (every full-length attempt on a vendor gets
 * the same timeout, so deadlines grow in start order; see DeadlineList).
 */
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { CompiledRoute } from '../../api/config.js';
import { DeadlineList, type DeadlineEntry } from '../deadline-list.js';

type CompiledVendor = CompiledRoute['vendors'][number];

/** An attempt in a vendor's timeout list. */
export interface TimedAttempt extends DeadlineEntry {
  timedOut(): void;
}

export class VendorTarget {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
  /** Attempts given the vendor's whole timeout (attempts cut short by the caller's budget use their own timer). */
  readonly timeouts: DeadlineList<TimedAttempt>;
  readonly host: string;
  private readonly agent: http.Agent;
  private readonly request: (o: https.RequestOptions) => ClientRequest;
  private readonly hostname: string;
  private readonly port: number;
  /** TLS server name, computed here so the agent does not parse the Host header per request. */
  private readonly servername: string;
  private readonly basePath: string;

  constructor(v: CompiledVendor, now: () => number) {
    const u = new URL(v.url);
    const secure = u.protocol === 'https:';
    this.name = v.name;
    this.url = v.url;
    this.timeoutMs = v.timeoutMs;
    this.timeouts = new DeadlineList<TimedAttempt>(now, expire);
    this.agent = secure ? new https.Agent({ keepAlive: true, noDelay: true }) : new http.Agent({ keepAlive: true, noDelay: true });
    this.request = secure ? https.request : http.request;
    this.hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port ? Number(u.port) : secure ? 443 : 80;
    this.host = u.host;
    this.servername = secure && isIP(this.hostname) === 0 ? this.hostname : '';
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  }

  /**
   * Starts a request (the caller sends the body and listens). `headers` is a flat name/value
   * array whose last pair is `host`, filled in here; Node copies it into the request head at once,
   * so the same array can serve the next attempt.
   */
  start(method: string, path: string, headers: string[]): ClientRequest {
    headers[headers.length - 1] = this.host;
    return this.request({
      agent: this.agent,
      hostname: this.hostname,
      port: this.port,
      servername: this.servername,
      method,
      path: this.basePath + path,
      headers,
    });
  }

  /** Closes every connection, busy or not. */
  destroy(): void {
    this.timeouts.dispose();
    this.agent.destroy();
  }

  /** No new sends; closes the pool once every attempt on it must have ended (timeout passed). */
  retire(): void {
    setTimeout(() => this.destroy(), this.timeoutMs + 1000).unref();
  }
}

function expire(a: TimedAttempt): void {
  a.timedOut();
}

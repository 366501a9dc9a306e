/**
 * The `--redis` URL of both processes, parsed strictly into what to connect to. Pure: no ioredis
 * here; the three Redis modules (sidecar/config/redis-source.ts, sidecar/egress/redis.ts,
 * operator/publisher.ts) turn a RedisTarget into an ioredis client with connectOptions().
 *
 *   redis://[user:pass@]host[:port][/db]                          one node
 *   redis+sentinel://[user:pass@]host[:port][,host[:port]…]/master  Sentinels, then the master they name
 *   redis+cluster://[user:pass@]host[:port][,host[:port]…]          Cluster seed nodes
 *
 * and the TLS forms `rediss://`, `rediss+sentinel://`, `rediss+cluster://`. Credentials are
 * percent-decoded. Error messages never repeat the password.
 */

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisTarget {
  mode: RedisMode;
  tls: boolean;
  /** The one node (standalone), the Sentinels, or the Cluster seed nodes. */
  nodes: RedisNode[];
  /** Sentinel mode: the master's name as the Sentinels know it. */
  masterName?: string;
  username?: string;
  password?: string;
  /** Standalone and Sentinel mode; Cluster has only database 0. */
  db?: number;
}

export class RedisUrlError extends Error {}

export const MAX_URL_LENGTH = 4096;
export const MAX_NODES = 32;
const MAX_USERNAME = 256;
const MAX_PASSWORD = 1024;
const MAX_HOST = 253;
const MAX_DB = 65535;

const SCHEMES: Record<string, { mode: RedisMode; tls: boolean }> = {
  'redis:': { mode: 'standalone', tls: false },
  'rediss:': { mode: 'standalone', tls: true },
  'redis+sentinel:': { mode: 'sentinel', tls: false },
  'rediss+sentinel:': { mode: 'sentinel', tls: true },
  'redis+cluster:': { mode: 'cluster', tls: false },
  'rediss+cluster:': { mode: 'cluster', tls: true },
};
const DEFAULT_PORT: Record<RedisMode, number> = { standalone: 6379, sentinel: 26379, cluster: 6379 };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
/** Sentinel master names: what redis-sentinel accepts in practice, without separators or spaces. */
const MASTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const FORMS =
  'redis://, rediss://, redis+sentinel://host:port[,host:port…]/<master> or redis+cluster://host:port[,host:port…] (or their rediss+ TLS forms)';

/** Parses and validates; throws RedisUrlError with a message fit for a usage error. */
export function parseRedisUrl(raw: string): RedisTarget {
  if (raw.length > MAX_URL_LENGTH) throw new RedisUrlError(`longer than ${MAX_URL_LENGTH} characters`);
  // Control characters and spaces are never valid in the URL (percent-encode them in credentials).
  if (/\s/.test(raw) || hasControl(raw)) throw new RedisUrlError('contains whitespace or control characters');
  const shown = redactRedisUrl(raw);
  const schemeEnd = raw.indexOf('://');
  const scheme = schemeEnd > 0 ? SCHEMES[raw.slice(0, schemeEnd + 1).toLowerCase()] : undefined;
  if (!scheme) throw new RedisUrlError(`"${shown}" is not a ${FORMS} URL`);
  const rest = raw.slice(schemeEnd + 3);
  if (/[?#]/.test(rest)) throw new RedisUrlError(`"${shown}": query strings and fragments are not supported`);

  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? null : authority.slice(0, at);
  const hostList = at < 0 ? authority : authority.slice(at + 1);

  const target: RedisTarget = { mode: scheme.mode, tls: scheme.tls, nodes: parseNodes(hostList, DEFAULT_PORT[scheme.mode], shown) };
  if (userinfo !== null) Object.assign(target, parseUserinfo(userinfo));

  if (scheme.mode === 'standalone') {
    if (target.nodes.length > 1) throw new RedisUrlError(`"${shown}": one host only; for several use redis+sentinel:// or redis+cluster://`);
    if (path !== '') target.db = parseDb(path, shown);
  } else if (scheme.mode === 'sentinel') {
    const [name, db, ...extra] = path.split('/');
    if (!name) throw new RedisUrlError(`"${shown}": name the master after the Sentinels, e.g. redis+sentinel://sentinel:26379/mymaster`);
    if (!MASTER_NAME.test(name)) throw new RedisUrlError(`"${shown}": master name "${name}" is not 1-128 letters, digits, ".", "_" or "-"`);
    if (extra.length > 0) throw new RedisUrlError(`"${shown}": the path is /<master> or /<master>/<db>`);
    target.masterName = name;
    if (db !== undefined && db !== '') target.db = parseDb(db, shown);
  } else if (path !== '') {
    throw new RedisUrlError(`"${shown}": a Cluster URL has no path (Cluster has only database 0)`);
  }
  return target;
}

function parseNodes(list: string, defaultPort: number, shown: string): RedisNode[] {
  const parts = list.split(',');
  if (parts.length > MAX_NODES) throw new RedisUrlError(`"${shown}": more than ${MAX_NODES} hosts`);
  const nodes: RedisNode[] = [];
  const seen = new Set<string>();
  for (const part of parts) {
    const node = parseNode(part, defaultPort, shown);
    const id = `${node.host}:${node.port}`;
    if (seen.has(id)) throw new RedisUrlError(`"${shown}": ${id} is listed twice`);
    seen.add(id);
    nodes.push(node);
  }
  return nodes;
}

function parseNode(s: string, defaultPort: number, shown: string): RedisNode {
  if (s === '') throw new RedisUrlError(`"${shown}": a host is missing`);
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    host = close < 0 ? '' : s.slice(1, close);
    const after = close < 0 ? '' : s.slice(close + 1);
    if (close < 0 || !IPV6.test(host) || (after !== '' && !after.startsWith(':'))) {
      throw new RedisUrlError(`"${shown}": "${s}" is not a bracketed IPv6 address`);
    }
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
    if (host.length > MAX_HOST || !(IPV4.test(host) || HOSTNAME.test(host))) {
      throw new RedisUrlError(`"${shown}": "${host.slice(0, 64)}" is not a host name or IP address`);
    }
  }
  let port = defaultPort;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new RedisUrlError(`"${shown}": port "${portText.slice(0, 16)}" is not 1..65535`);
  }
  return { host: host.toLowerCase(), port };
}

function parseUserinfo(s: string): { username?: string; password?: string } {
  const colon = s.indexOf(':');
  const user = decode(colon < 0 ? s : s.slice(0, colon), 'user name');
  const pass = colon < 0 ? undefined : decode(s.slice(colon + 1), 'password');
  if (user.length > MAX_USERNAME) throw new RedisUrlError(`the user name is longer than ${MAX_USERNAME} characters`);
  if (pass !== undefined && pass.length > MAX_PASSWORD) throw new RedisUrlError(`the password is longer than ${MAX_PASSWORD} characters`);
  if (user === '' && !pass) throw new RedisUrlError('"@" with neither a user name nor a password');
  return { ...(user !== '' ? { username: user } : {}), ...(pass ? { password: pass } : {}) };
}

function decode(s: string, what: string): string {
  let out: string;
  try {
    out = decodeURIComponent(s);
  } catch {
    throw new RedisUrlError(`the ${what} is not validly percent-encoded`);
  }
  // A decoded control character would reach the AUTH command: refuse it rather than send it.
  if (hasControl(out)) throw new RedisUrlError(`the ${what} contains control characters`);
  return out;
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function parseDb(s: string, shown: string): number {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 0 && n <= MAX_DB)) throw new RedisUrlError(`"${shown}": database "${s.slice(0, 16)}" is not an integer 0..${MAX_DB}`);
  return n;
}

/** The URL with its password replaced by `***`, for logs and error messages. Never throws. */
export function redactRedisUrl(raw: string): string {
  const schemeEnd = raw.indexOf('://');
  const start = schemeEnd < 0 ? 0 : schemeEnd + 3;
  // The last "@" anywhere, not just in the authority: a password with an unencoded "/" or "#"
  // must not escape redaction (no valid host, port or master name contains "@").
  const at = raw.lastIndexOf('@');
  if (at < start) return raw.slice(0, 512);
  const colon = raw.indexOf(':', start);
  const user = colon >= 0 && colon < at ? raw.slice(start, colon) + ':***' : raw.slice(start, at);
  return (raw.slice(0, start) + user + raw.slice(at)).slice(0, 512);
}

/** ioredis connection options for a node, a Sentinel-managed master, or each Cluster node (structural: no ioredis types here). */
export interface NodeConnectOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** Node's TLS defaults (server name from the host, system CAs). */
  tls?: Record<string, never>;
  sentinels?: RedisNode[];
  name?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  sentinelTLS?: Record<string, never>;
  enableTLSForSentinelMode?: boolean;
}

export type ConnectSpec =
  | { kind: 'single'; options: NodeConnectOptions }
  | { kind: 'cluster'; nodes: RedisNode[]; redisOptions: NodeConnectOptions };

/**
 * Sentinel: the URL's credentials authenticate to the master and replicas and to the Sentinels
 * alike (set the Sentinels' `requirepass` to the same, as common charts do).
 */
export function connectSpec(t: RedisTarget): ConnectSpec {
  const auth = { ...(t.username !== undefined ? { username: t.username } : {}), ...(t.password !== undefined ? { password: t.password } : {}) };
  const db = t.db !== undefined ? { db: t.db } : {};
  if (t.mode === 'cluster') {
    return { kind: 'cluster', nodes: t.nodes.map((n) => ({ ...n })), redisOptions: { ...auth, ...(t.tls ? { tls: {} } : {}) } };
  }
  if (t.mode === 'sentinel') {
    return {
      kind: 'single',
      options: {
        sentinels: t.nodes.map((n) => ({ ...n })),
        name: t.masterName,
        ...auth,
        ...(t.username !== undefined ? { sentinelUsername: t.username } : {}),
        ...(t.password !== undefined ? { sentinelPassword: t.password } : {}),
        ...db,
        ...(t.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      },
    };
  }
  const [node] = t.nodes;
  return { kind: 'single', options: { host: node.host, port: node.port, ...auth, ...db, ...(t.tls ? { tls: {} } : {}) } };
}

/** For flag parsers: the parsed target, or the error `fail` builds from a message naming nothing but the problem. */
export function checkRedisUrl(raw: string, fail: (message: string) => Error): RedisTarget {
  try {
    return parseRedisUrl(raw);
  } catch (err) {
    throw err instanceof RedisUrlError ? fail(err.message) : err;
  }
}

/**
 * The same URL with these credentials instead of any it had (percent-encoded): the URL the
 * operator gives a workload's sidecars, from the address they reach Redis at. Throws
 * RedisUrlError when the base is not a valid URL.
 */
export function withCredentials(base: string, username: string, password: string): string {
  parseRedisUrl(base);
  const schemeEnd = base.indexOf('://') + 3;
  const rest = base.slice(schemeEnd);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const hosts = authority.slice(authority.lastIndexOf('@') + 1);
  const url = `${base.slice(0, schemeEnd)}${encodeURIComponent(username)}:${encodeURIComponent(password)}@${hosts}${slash < 0 ? '' : rest.slice(slash)}`;
  parseRedisUrl(url);
  return url;
}

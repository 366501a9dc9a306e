/**
 * The HAProxy peer, configured as well as HAProxy can express the same TrafficPolicy: each class
 * becomes ACLs (method, exact path or prefix, header and query values, WebSocket upgrade) routing
 * to its own backend whose single server has `maxconn` = the class budget and whose
 * `timeout queue` is the class's queue timeout (HAProxy's queue is bounded by time, not length;
 * a class with no queue gets 1 ms). Load levels (shedAtLevel) have no HAProxy equivalent and are
 * left out. Debian's haproxy, one thread (the sidecar is one Node thread too).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrafficPolicySpecInput } from '../../api/policy.js';
import { spawnChild, waitForHttp200, type Child } from '../apps/child-process.js';
import { freePort } from '../apps/free-port.js';

type ClassInput = NonNullable<TrafficPolicySpecInput['classes']>[number];
type MatchInput = ClassInput['match'][number];

const HEALTH_URI = '/_haproxy/health';

/** An HAProxy ACL condition for one matcher (the terms are ANDed). */
function condition(m: MatchInput, aclName: (expr: string) => string): string {
  const terms: string[] = [];
  if (m.method) terms.push(`METH_${m.method}`);
  if (m.path) terms.push(aclName(`path ${m.path}`));
  if (m.pathPrefix && m.pathPrefix !== '/') terms.push(aclName(`path_beg ${m.pathPrefix}`));
  for (const [h, v] of Object.entries(m.headers ?? {})) terms.push(aclName(`req.hdr(${h}) -m str ${v}`));
  for (const h of m.headersPresent ?? []) terms.push(aclName(`req.hdr(${h}) -m found`));
  for (const [q, v] of Object.entries(m.query ?? {})) terms.push(aclName(`urlp(${q}) -m str ${v}`));
  if (m.websocket === true) terms.push(aclName('hdr(upgrade) -i websocket'));
  if (m.websocket === false) terms.push(`!${aclName('hdr(upgrade) -i websocket')}`);
  return terms.join(' ');
}

function backend(name: string, upstream: string, limit: number, queueMs: number, timeoutMs: number | undefined): string {
  return [
    `backend be_${name}`,
    `  timeout queue ${queueMs}ms`,
    ...(timeoutMs !== undefined ? [`  timeout server ${timeoutMs}ms`] : []),
    `  server app ${upstream} maxconn ${limit}`,
  ].join('\n');
}

/** The haproxy.cfg for `spec` in front of `upstream` (host:port), listening on `port`. */
export function haproxyConfig(spec: TrafficPolicySpecInput, port: number, upstream: string, replicas = 1): string {
  const acls = new Map<string, string>();
  const aclName = (expr: string): string => {
    let name = acls.get(expr);
    if (!name) {
      name = `a${acls.size}`;
      acls.set(expr, name);
    }
    return name;
  };
  const uses: string[] = [];
  const backends: string[] = [];
  const share = (c: { concurrency: { limit: number; scope?: 'Pod' | 'Cluster' } }): number =>
    c.concurrency.scope === 'Cluster' ? Math.max(1, Math.floor(c.concurrency.limit / replicas)) : c.concurrency.limit;
  for (const c of spec.classes ?? []) {
    for (const m of c.match) uses.push(`  use_backend be_${c.name} if ${condition(m, aclName)}`);
    const queueMs = (c.queue?.size ?? 0) > 0 ? (c.queue?.timeoutMs ?? 1000) : 1;
    backends.push(backend(c.name, upstream, share(c), queueMs, c.timeoutMs));
  }
  const d = spec.defaultClass;
  const dq = d && (d.queue?.size ?? 0) > 0 ? (d.queue?.timeoutMs ?? 1000) : 1;
  backends.push(backend('default', upstream, d ? share(d) : 100, dq, d?.timeoutMs));
  return [
    'global',
    '  nbthread 1',
    '  maxconn 8000',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 1h',
    '  timeout http-keep-alive 60s',
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    `  monitor-uri ${HEALTH_URI}`,
    ...[...acls].map(([expr, name]) => `  acl ${name} ${expr}`),
    ...uses,
    '  default_backend be_default',
    ...backends,
    '',
  ].join('\n');
}

export interface HaproxyProcess {
  child: Child;
  url: string;
  configPath: string;
}

/** Writes the generated config to `dir` and runs `haproxy -db -f` on it; ready when its monitor URI answers. */
export async function startHaproxy(dir: string, spec: TrafficPolicySpecInput, upstream: string, replicas = 1): Promise<HaproxyProcess> {
  const port = await freePort();
  const configPath = join(dir, `haproxy-${port}.cfg`);
  writeFileSync(configPath, haproxyConfig(spec, port, upstream, replicas));
  const child = spawnChild('haproxy', 'haproxy', ['-db', '-f', configPath]);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp200(child, `${url}${HEALTH_URI}`);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, url, configPath };
}

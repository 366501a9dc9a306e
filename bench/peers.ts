/**
 * The peers the sidecar is compared with, from Debian: nginx as a fast fixed-body upstream and
 * as a reverse proxy, HAProxy as a reverse proxy (plain, and with per-class maxconn budgets).
 * Each runs as one single-threaded foreground process so /proc gives its whole CPU time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, type Proc } from './procs.js';

/** The fixed body every fast upstream answers with. */
export const FIXED_BODY = '{"ok":true}\n';

function nginxMain(dir: string, server: string, httpExtra = ''): string {
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  return `worker_processes 1;
master_process off;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 30000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  ${httpExtra}
  ${server}
}
`;
}

/**
 * nginx answering every request with FIXED_BODY at once, except `/hold`, whose 2 KB body trickles
 * at 1 byte/s: a request that keeps its proxy slot busy for as long as the benchmark needs.
 */
export async function startNginxUpstream(dir: string, port: number, cpus?: string): Promise<Proc> {
  const d = join(dir, `nginx-upstream-${port}`);
  mkdirSync(d, { recursive: true });
  const hold = 'x'.repeat(2000);
  const conf = nginxMain(
    d,
    `server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { return 200 '${FIXED_BODY.trim()}\\n'; }
    location /hold { limit_rate_after 400; limit_rate 1; return 200 '${hold}'; }
  }`,
  );
  writeFileSync(join(d, 'nginx.conf'), conf);
  return start('nginx-upstream', 'nginx', ['-c', join(d, 'nginx.conf'), '-p', d], { cpus, port });
}

export async function startNginxProxy(dir: string, port: number, upstreamPort: number, cpus?: string): Promise<Proc> {
  const d = join(dir, `nginx-proxy-${port}`);
  mkdirSync(d, { recursive: true });
  const conf = nginxMain(
    d,
    `server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
    `upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }`,
  );
  writeFileSync(join(d, 'nginx.conf'), conf);
  return start('nginx', 'nginx', ['-c', join(d, 'nginx.conf'), '-p', d], { cpus, port });
}

const HAPROXY_HEAD = `global
  nbthread 1
  maxconn 9000
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
`;

export async function startHaproxy(dir: string, port: number, upstreamPort: number, cpus?: string): Promise<Proc> {
  const conf = `${HAPROXY_HEAD}
frontend fe
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server s1 127.0.0.1:${upstreamPort}
`;
  return startHaproxyConf(dir, `haproxy-${port}.cfg`, conf, port, cpus);
}

/**
 * The refusal peer: HAProxy proxying to the upstream, except that every path under /shed is
 * refused with `http-request deny` (503, HAProxy's built-in error page), the cheapest refusal it has.
 */
export async function startHaproxyDeny(dir: string, port: number, upstreamPort: number, cpus?: string): Promise<Proc> {
  const conf = `${HAPROXY_HEAD}
frontend fe
  bind 127.0.0.1:${port}
  http-request deny deny_status 503 if { path_beg /shed }
  default_backend app
backend app
  server s1 127.0.0.1:${upstreamPort}
`;
  return startHaproxyConf(dir, `haproxy-deny-${port}.cfg`, conf, port, cpus);
}

/**
 * The WebSocket peer: plain proxying, sessions tunnelled after the 101 and never timed out while
 * the benchmark holds them. No global maxconn: HAProxy then derives it from the fd limit (two fds
 * per proxied session), the most sessions this machine allows it, like the Node proxies.
 */
export async function startHaproxyWs(dir: string, port: number, upstreamPort: number, cpus?: string): Promise<Proc> {
  const conf = `${HAPROXY_HEAD.replace(/^ {2}maxconn \d+\n/m, '')}  timeout tunnel 1h
frontend fe
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server s1 127.0.0.1:${upstreamPort}
`;
  return startHaproxyConf(dir, `haproxy-ws-${port}.cfg`, conf, port, cpus);
}

/**
 * The protection peer: background logins and messages in separate backends, each with its own
 * server maxconn (its concurrency budget) and a 100 ms queue timeout (then 503).
 */
export async function startHaproxyBudgets(
  dir: string,
  port: number,
  upstreamPort: number,
  limits: { backgroundLogin: number; messages: number; queueMs: number },
  cpus?: string,
): Promise<Proc> {
  const conf = `${HAPROXY_HEAD}
frontend fe
  bind 127.0.0.1:${port}
  acl login path /login
  acl background req.hdr(x-login-kind) -m str background
  acl messages path_beg /messages
  use_backend background_login if METH_POST login background
  use_backend messages if METH_POST messages
  default_backend other
backend background_login
  timeout queue ${limits.queueMs}ms
  server s1 127.0.0.1:${upstreamPort} maxconn ${limits.backgroundLogin}
backend messages
  timeout queue ${limits.queueMs}ms
  server s1 127.0.0.1:${upstreamPort} maxconn ${limits.messages}
backend other
  server s1 127.0.0.1:${upstreamPort}
`;
  return startHaproxyConf(dir, `haproxy-budgets-${port}.cfg`, conf, port, cpus);
}

async function startHaproxyConf(dir: string, file: string, conf: string, port: number, cpus?: string): Promise<Proc> {
  const path = join(dir, file);
  writeFileSync(path, conf);
  return start('haproxy', 'haproxy', ['-db', '-f', path], { cpus, port });
}

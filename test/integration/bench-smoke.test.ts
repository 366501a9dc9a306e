/**
 * Smoke test of the benchmark harness (not a benchmark: no timing assertions). The bare proxy
 * and the open-loop generator run for about a second against real servers; the wrk, nginx and
 * HAProxy parts run only if those programs are installed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parsePolicy } from '../../api/validate.js';
import { startBareProxy } from '../../bench/bare-proxy.js';
import { runOpenLoop } from '../../bench/open-loop.js';
import { startHaproxy, startHaproxyDeny, startHaproxyWs, startNginxUpstream } from '../../bench/peers.js';
import { OVERHEAD_POLICY, protectionPolicy, REJECT_POLICY } from '../../bench/policies.js';
import { freePort, haveCommand, tempDir } from '../../bench/procs.js';
import { startSlowUpstream } from '../../bench/slow-upstream.js';
import { runWrk } from '../../bench/wrk.js';

const HAVE = { wrk: haveCommand('wrk'), nginx: haveCommand('nginx'), haproxy: haveCommand('haproxy') };
const servers: Server[] = [];
let dir = '';

function port(s: Server): number {
  return (s.address() as AddressInfo).port;
}

async function close(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
}

let upstream: Server;
let proxy: Server;

beforeAll(async () => {
  dir = tempDir('smoke');
  upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': '3' }).end('ok\n');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  servers.push(upstream);
  proxy = await startBareProxy(0, `http://127.0.0.1:${port(upstream)}`);
  servers.push(proxy);
});

afterAll(async () => {
  for (const s of servers.reverse()) await close(s);
  rmSync(dir, { recursive: true, force: true });
});

test('the open-loop generator drives the bare proxy on schedule and counts statuses', async () => {
  const r = await runOpenLoop({
    url: `http://127.0.0.1:${port(proxy)}/x`,
    method: 'POST',
    headers: { 'x-login-kind': 'background' },
    body: '{}',
    rate: 300,
    durationMs: 1000,
    timeoutMs: 3000,
  });
  expect(r.scheduled).toBe(300);
  expect(r.unsent).toBe(0);
  expect(r.errors + r.timeouts).toBe(0);
  expect(r.byStatus['200']).toBe(300);
  expect(r.p99Ms).toBeGreaterThan(0);
});

test('the slow upstream serves through its slots and FIFO backlog (status counted per code)', async () => {
  const slow = await startSlowUpstream(0, 2, 20);
  servers.push(slow);
  const r = await runOpenLoop({ url: `http://127.0.0.1:${port(slow)}/messages`, rate: 200, durationMs: 500, timeoutMs: 5000 });
  expect(r.byStatus['200']).toBe(100);
  // 2 slots × 20 ms: 100 requests cannot all be served at once, so some waited in the backlog.
  expect(r.p99Ms).toBeGreaterThan(20);
});

test('the generator counts refusals and chunked bodies', async () => {
  const refuser = createServer((req, res) => {
    req.resume();
    res.writeHead(req.url === '/chunked' ? 200 : 503, { 'retry-after': '1' });
    res.write('par');
    res.end('tial\n');
  });
  await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', r));
  servers.push(refuser);
  const refused = await runOpenLoop({ url: `http://127.0.0.1:${port(refuser)}/`, rate: 100, durationMs: 300 });
  expect(refused.byStatus['503']).toBe(30);
  const chunked = await runOpenLoop({ url: `http://127.0.0.1:${port(refuser)}/chunked`, rate: 100, durationMs: 300 });
  expect(chunked.byStatus['200']).toBe(30);
});

(HAVE.wrk ? test : test.skip)('wrk runs through the bare proxy and its JSON summary is parsed (skipped without wrk)', async () => {
  const r = await runWrk({ url: `http://127.0.0.1:${port(proxy)}/`, connections: 4, durationSec: 1, dir });
  expect(r.requests).toBeGreaterThan(0);
  expect(r.non2xx).toBe(0);
  expect(r.p99Ms).toBeGreaterThan(0);
});

(HAVE.wrk && HAVE.nginx && HAVE.haproxy ? test : test.skip)(
  'nginx upstream and HAProxy start from the generated configs (skipped without wrk, nginx or haproxy)',
  async () => {
    const upPort = await freePort();
    const nginx = await startNginxUpstream(dir, upPort);
    try {
      const haPort = await freePort();
      const haproxy = await startHaproxy(dir, haPort, upPort);
      try {
        const r = await runWrk({ url: `http://127.0.0.1:${haPort}/`, connections: 4, durationSec: 1, dir });
        expect(r.requests).toBeGreaterThan(0);
        expect(r.non2xx).toBe(0);
      } finally {
        await haproxy.stop();
      }
    } finally {
      await nginx.stop();
    }
  },
);

(HAVE.wrk && HAVE.nginx && HAVE.haproxy ? test : test.skip)(
  'the HAProxy deny peer refuses /shed with 503 and proxies the rest; the WebSocket peer starts (skipped without wrk, nginx or haproxy)',
  async () => {
    const upPort = await freePort();
    const nginx = await startNginxUpstream(dir, upPort);
    try {
      const denyPort = await freePort();
      const deny = await startHaproxyDeny(dir, denyPort, upPort);
      try {
        const refused = await runWrk({ url: `http://127.0.0.1:${denyPort}/shed`, connections: 2, durationSec: 1, dir });
        expect(refused.requests).toBeGreaterThan(0);
        expect(refused.non2xx).toBe(refused.requests);
        const proxied = await runWrk({ url: `http://127.0.0.1:${denyPort}/`, connections: 2, durationSec: 1, dir });
        expect(proxied.non2xx).toBe(0);
      } finally {
        await deny.stop();
      }
      const wsPort = await freePort();
      const ws = await startHaproxyWs(dir, wsPort, upPort);
      await ws.stop();
    } finally {
      await nginx.stop();
    }
  },
);

test('the example policies under bench/policies/ are valid and are the built-in ones (a policy A/B starts from today\'s policy)', () => {
  const load = (file: string): unknown => {
    const r = parsePolicy(parseYaml(readFileSync(new URL(`../../bench/policies/${file}`, import.meta.url), 'utf8')));
    if (!r.ok) throw new Error(`${file}: ${r.error}`);
    return r.value;
  };
  const builtIn = (yaml: string): unknown => {
    const r = parsePolicy(parseYaml(yaml));
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };
  const none = load('none.yaml') as { spec: { classes: { name: string }[] } };
  const overhead = builtIn(OVERHEAD_POLICY) as { spec: { classes: unknown[]; defaultClass: unknown } };
  const reject = builtIn(REJECT_POLICY) as { spec: { classes: unknown[] } };
  // none.yaml: the overhead policy's classes, then the reject policy's one-slot class.
  expect(none).toEqual({ ...overhead, spec: { ...overhead.spec, classes: [...overhead.spec.classes, ...reject.spec.classes] } });
  expect(load('none-protection.yaml')).toEqual(builtIn(protectionPolicy()));
  // The features files (B side) are the same policies plus only the optional features. The
  // default class of features.yaml also gains the queue fairness needs: its limit is never
  // reached in the benchmarks, so nothing ever waits in it.
  type Cls = { concurrency: Record<string, unknown>; fairness?: unknown; mode?: unknown; queue?: unknown };
  type Spec = { spec: { classes: Cls[]; defaultClass: Cls } };
  const strip = (c: Cls, dropQueue: boolean): Cls => {
    const { borrow: _b, adaptive: _a, ...concurrency } = c.concurrency;
    const { fairness: _f, mode: _m, queue, ...rest } = c;
    return { ...rest, concurrency, ...(dropQueue ? {} : { queue }) };
  };
  const features = (file: string, defaultQueue: boolean): unknown => {
    const p = load(file) as Spec;
    return { ...p, spec: { ...p.spec, classes: p.spec.classes.map((c) => strip(c, false)), defaultClass: strip(p.spec.defaultClass, defaultQueue) } };
  };
  const withoutDefaultQueue = (p: Spec): Spec => ({ ...p, spec: { ...p.spec, defaultClass: strip(p.spec.defaultClass, true) } });
  expect(features('features.yaml', true)).toEqual(withoutDefaultQueue(none as unknown as Spec));
  expect(features('features-protection.yaml', false)).toEqual(load('none-protection.yaml'));
});

if (!HAVE.wrk || !HAVE.nginx || !HAVE.haproxy) {
  console.warn(`bench-smoke: skipping parts that need ${Object.keys(HAVE).filter((k) => !HAVE[k as keyof typeof HAVE]).join(', ')} (not installed)`);
}

/**
 * Every dashboard panel query against a real Prometheus (Debian's `prometheus`, scraping every
 * second) that scrapes real processes:
 *
 * - sidecar chat-0 in standalone mode (`--policy`, a copy of examples/chat-policy.yaml) in front of
 *   an upstream that holds background logins, driven with traffic that fills a budget and is shed,
 *   and one broken edit of its policy file (a refused config);
 * - sidecar relay-0 on remote config (`--redis`, `--config-key`) published by
 * - the operator process (API-server double, private redis-server), with egress routes to vendor
 *   simulators: failover away from a failing vendor, dedup, refusals at a route's concurrency
 *   limit, deferral to Kafka (librdkafka's mock cluster) that drains, expires into the dead-letter
 *   topic, and fails while the brokers are down.
 *
 * The labels Kubernetes service discovery adds in a cluster (namespace, pod) and the workload label
 * from the scrape config's relabelling (docs/observability.md) are set as static target labels.
 * Then each query runs with every variable on "All" (`.*`) and `$__rate_interval` = 1m: it must
 * parse and return at least one series. Every process is stopped by PID.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { stringify } from 'yaml';
import { DASHBOARD_NAMES, buildDashboard } from '../tools/dashboards.js';
import { panelQueries, substituteVariables } from '../tools/dashboards-model.js';
import { spawnChild, waitForHttp200, type Child } from './apps/child-process.js';
import { VendorSim } from './apps/vendor-sim.js';
import { startKafkaMock, type KafkaMock } from './kafka-mock/index.js';
import { startKubeDouble, type KubeDouble } from './kube-double/server.js';
import { ensureBuilt, Kubectl, ROOT, waitFor } from './support/control-plane.js';
import { RedisServer } from '../test/support/redis.js';
import { freePort } from '../test/support/ports.js';

const NS = 'relay-ns';
const OPERATOR_NS = 'spillway-system';
const DEFER_ROUTES = ['later', 'expiring'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Prometheus scrapes every second: poll slower and longer than the shared default. */
const waitLong = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000) => waitFor(what, fn, timeoutMs, 200);

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
}

function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The app behind chat-0: answers at once, except background logins, held until released. */
class App {
  private readonly held: ServerResponse[] = [];
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      if (req.url === '/login' && req.headers['x-login-kind'] === 'background') this.held.push(res);
      else setTimeout(() => res.end('ok'), 5);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  get holding(): number {
    return this.held.length;
  }

  release(): void {
    for (const r of this.held.splice(0)) r.end('ok');
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

interface PromResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

describe('every dashboard panel query returns data from a real Prometheus', () => {
  let tmp: string;
  let redis: RedisServer;
  let kafka: KafkaMock;
  let double: KubeDouble;
  let app: App;
  const vendors: VendorSim[] = [];
  const children: Child[] = [];
  let promUrl = '';
  let chatListen = 0;
  let relayEgress = 0;
  let chatAdmin = 0;
  let relayAdmin = 0;
  let policyFile = '';

  const kubectl = (args: string[], input?: string): Promise<string> => new Kubectl(join(tmp, 'kubeconfig'), join(tmp, 'kube-cache')).must(args, input);
  const metricsText = async (adminPort: number) => (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const query = async (expr: string): Promise<PromResult> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as PromResult;
  };
  const hasData = async (expr: string) => ((await query(expr)).data?.result.length ?? 0) > 0;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'spillway-prom-e2e-'));
    await ensureBuilt();
    redis = await RedisServer.start();
    kafka = await startKafkaMock({ brokers: 1, topics: DEFER_ROUTES.flatMap((r) => [`spillway.deferred.${r}:1`, `spillway.dead-letter.${r}:1`]) });
    const [failing, healthy, slow] = await Promise.all([
      VendorSim.start({ name: 'a', successRate: 0.2 }),
      VendorSim.start({ name: 'b' }),
      VendorSim.start({ name: 'slow', latencyMs: 400 }),
    ]);
    vendors.push(failing, healthy, slow);
    app = new App();
    await app.start();

    // The control plane: the API-server double, a relay Deployment and its TrafficPolicy.
    double = await startKubeDouble({ port: 0, crdDir: join(ROOT, 'crds') });
    double.writeKubeconfig(join(tmp, 'kubeconfig'));
    await kubectl(['apply', '-f', 'crds/']);
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['apply', '-f', '-'], stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'relay', namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'relay' } },
        template: { metadata: { labels: { app: 'relay' } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
      },
    }));
    double.setReadyReplicas(NS, 'relay', 1);
    const deferRoute = (name: string, defer: Record<string, number>) => ({
      name,
      vendors: [{ name: 'slow', url: slow.url, timeoutMs: 2000 }],
      concurrency: { limit: 1 },
      defer,
    });
    await kubectl(['apply', '-f', '-'], stringify({
      apiVersion: 'spillway.io/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'relay', namespace: NS },
      spec: {
        targetRef: { kind: 'Deployment', name: 'relay' },
        classes: [{ name: 'api', match: [{ pathPrefix: '/' }], concurrency: { limit: 100, scope: 'Pod' } }],
        routes: [
          {
            name: 'push',
            vendors: [
              { name: 'a', url: failing.url, timeoutMs: 2000 },
              { name: 'b', url: healthy.url, timeoutMs: 2000 },
            ],
            // A long window: the success-rate gauge stays while the queries run.
            failover: { minSuccessRate: 0.9, windowSeconds: 600, minRequests: 5, cooldownSeconds: 600 },
            dedup: {},
          },
          { name: 'sms', vendors: [{ name: 'slow', url: slow.url, timeoutMs: 2000 }], concurrency: { limit: 1 } },
          deferRoute('later', { maxAgeSeconds: 600, maxAttempts: 5, drainRatePerSecond: 20 }),
          deferRoute('expiring', { maxAgeSeconds: 1, maxAttempts: 1, drainRatePerSecond: 1 }),
        ],
      },
    }));

    const operatorAdmin = await freePort();
    const operator = spawnChild('operator', process.execPath, [
      'bin/spillway.js', 'operator', '--kubeconfig', join(tmp, 'kubeconfig'), '--redis', redis.url, '--namespace', NS, '--admin', String(operatorAdmin),
    ]);
    children.push(operator);
    await waitForHttp200(operator, `http://127.0.0.1:${operatorAdmin}/healthz`, 30_000);

    // chat-0: standalone, from a copy of the example policy (edited below).
    policyFile = join(tmp, 'chat-policy.yaml');
    writeFileSync(policyFile, readFileSync(join(ROOT, 'examples', 'chat-policy.yaml')));
    [chatListen, chatAdmin] = [await freePort(), await freePort()];
    const chat = spawnChild('chat-0', process.execPath, [
      'bin/spillway.js', 'sidecar', '--policy', policyFile, '--pod-name', 'chat-0', '--upstream', `http://127.0.0.1:${app.port}`,
      '--host', '127.0.0.1', '--listen', String(chatListen), '--admin', String(chatAdmin), '--egress', String(await freePort()),
      '--state-dir', join(tmp, 'chat-0'),
    ]);
    children.push(chat);
    // relay-0: remote config from the operator, deferral to Kafka.
    let relayListen: number;
    [relayListen, relayAdmin, relayEgress] = [await freePort(), await freePort(), await freePort()];
    const relay = spawnChild('relay-0', process.execPath, [
      'bin/spillway.js', 'sidecar', '--redis', redis.url, '--config-key', `${NS}/relay`, '--kafka', kafka.bootstrap.join(','), '--pod-name', 'relay-0',
      '--upstream', `http://127.0.0.1:${app.port}`, '--host', '127.0.0.1', '--listen', String(relayListen), '--admin', String(relayAdmin),
      '--egress', String(relayEgress), '--state-dir', join(tmp, 'relay-0'),
    ]);
    children.push(relay);
    await waitForHttp200(chat, `http://127.0.0.1:${chatAdmin}/readyz`, 30_000);
    await waitForHttp200(relay, `http://127.0.0.1:${relayAdmin}/readyz`, 30_000);

    // Prometheus, with the labels a cluster's service discovery and relabelling would add.
    const promPort = await freePort();
    const promConfig = join(tmp, 'prometheus.yml');
    writeFileSync(promConfig, stringify({
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      // The alert rules too: they must evaluate cleanly against the real series.
      rule_files: [join(ROOT, 'charts', 'spillway', 'rules', 'spillway.rules.yaml')],
      scrape_configs: [
        {
          job_name: 'spillway-sidecars',
          static_configs: [
            { targets: [`127.0.0.1:${chatAdmin}`], labels: { namespace: 'talk', workload: 'chat', pod: 'chat-0' } },
            { targets: [`127.0.0.1:${relayAdmin}`], labels: { namespace: NS, workload: 'relay', pod: 'relay-0' } },
          ],
        },
        {
          job_name: 'spillway-operator',
          static_configs: [{ targets: [`127.0.0.1:${operatorAdmin}`], labels: { namespace: OPERATOR_NS, pod: 'spillway-operator-0' } }],
        },
      ],
    }));
    const prom = spawnChild('prometheus', '/usr/bin/prometheus', [
      `--config.file=${promConfig}`, `--storage.tsdb.path=${join(tmp, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    children.push(prom);
    promUrl = `http://127.0.0.1:${promPort}`;
    await waitForHttp200(prom, `${promUrl}/-/ready`, 60_000);
  }, 180_000);

  afterAll(async () => {
    app?.release();
    for (const c of children.reverse()) await c.stop();
    for (const v of vendors) await v.close();
    await app?.close();
    await kafka?.stop();
    await redis?.stop();
    await double?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('drives traffic, then every query parses and returns data', async () => {
    // Inbound on chat-0: ordinary traffic, then background logins past their budget.
    for (let i = 0; i < 50; i++) await send(chatListen, i % 2 ? 'GET' : 'POST', i % 2 ? '/sync' : '/messages/1');
    const state = (await (await fetch(`http://127.0.0.1:${chatAdmin}/state`)).json()) as { classes: { name: string; limit: number }[] };
    const budget = state.classes.find((c) => c.name === 'background-login')?.limit ?? 0;
    expect(budget).toBeGreaterThan(0);
    const held = Array.from({ length: budget }, () => send(chatListen, 'POST', '/login', { 'x-login-kind': 'background' }));
    await waitLong(`${budget} background logins held`, () => app.holding === budget);
    const refused = await Promise.all(Array.from({ length: 5 }, () => send(chatListen, 'POST', '/login', { 'x-login-kind': 'background' })));
    expect(refused.map((r) => [r.status, r.headers['x-spillway-reason']])).toEqual(Array(5).fill([503, 'capacity']));
    app.release();
    await Promise.all(held);

    // A broken edit of the policy file is refused; the original is then restored.
    const original = readFileSync(policyFile, 'utf8');
    writeFileSync(policyFile, 'spec: [not a policy');
    await waitLong('the refused file config', async () => /spillway_config_rejected_total\{source="file",reason="[a-z-]+"\} 1/.test(await metricsText(chatAdmin)));
    writeFileSync(policyFile, original);

    // Egress on relay-0. push: vendor a fails 4 in 5, the route fails over to b.
    for (let i = 0; i < 15; i++) await send(relayEgress, 'POST', '/push/v1/send', { 'idempotency-key': `k-${i}` }, '{}');
    await waitLong('failover to b', async () => /spillway_vendor_failovers_total\{[^}]*from="a"[^}]*\} [1-9]/.test(await metricsText(relayAdmin)));
    // A repeated key is suppressed.
    await send(relayEgress, 'POST', '/push/v1/send', { 'idempotency-key': 'repeat' }, '{}');
    const again = await send(relayEgress, 'POST', '/push/v1/send', { 'idempotency-key': 'repeat' }, '{}');
    expect(again.status).toBeLessThan(300);
    // sms: one send at a time, the rest refused for capacity.
    const sms = await Promise.all(Array.from({ length: 4 }, () => send(relayEgress, 'POST', '/sms/v1/send', {}, '{}')));
    expect(sms.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    // later/expiring: one at a time, the rest deferred (202) and drained or dead-lettered.
    for (const route of DEFER_ROUTES) {
      const replies = await Promise.all(Array.from({ length: 4 }, (_, i) => send(relayEgress, 'POST', `/${route}/v1/send`, { 'idempotency-key': `${route}-${i}` }, '{}')));
      expect(replies.filter((r) => r.status === 202).length).toBeGreaterThan(0);
    }
    await waitLong('drained and dead-lettered', async () => {
      const m = await metricsText(relayAdmin);
      return /spillway_drained_total\{[^}]*route="later"[^}]*\} [1-9]/.test(m) && /spillway_dead_letter_total\{[^}]*route="expiring"[^}]*\} [1-9]/.test(m);
    }, 60_000);
    // Kafka down: a shed send cannot be stored (503 defer-unavailable).
    await kafka.down(-1);
    try {
      const replies = await Promise.all(Array.from({ length: 3 }, (_, i) => send(relayEgress, 'POST', '/later/v1/send', { 'idempotency-key': `down-${i}` }, '{}')));
      expect(replies.some((r) => r.headers['x-spillway-reason'] === 'defer-unavailable')).toBe(true);
    } finally {
      await kafka.up(-1);
    }

    // Prometheus has scraped all of it (the last series to appear) and the operator's results.
    await waitLong('scraped', async () =>
      (await hasData('spillway_defer_failed_total')) && (await hasData('spillway_operator_reconcile_total')) && (await hasData('spillway_config_rejected_total')),
    );
    await sleep(3000); // a few more samples, so every rate over 1m has two points

    const failures: string[] = [];
    let count = 0;
    for (const name of DASHBOARD_NAMES) {
      for (const { panel, expr } of panelQueries(buildDashboard(name))) {
        count++;
        const r = await query(substituteVariables(expr));
        if (r.status !== 'success') failures.push(`${name} / ${panel}: ${r.error ?? r.status}\n  ${expr}`);
        else if ((r.data?.result.length ?? 0) === 0) failures.push(`${name} / ${panel}: no data\n  ${expr}`);
      }
    }
    expect(count).toBeGreaterThan(30);
    expect(failures).toEqual([]);

    // The variable queries (label_values) find the labels the dashboards filter by.
    const labels = async (label: string, match: string) => {
      const res = await fetch(`${promUrl}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`);
      return ((await res.json()) as { data: string[] }).data;
    };
    expect(await labels('namespace', 'spillway_config_version')).toEqual(['relay-ns', 'talk']);
    expect(await labels('workload', 'spillway_config_version')).toEqual(['chat', 'relay']);
    expect(await labels('pod', 'spillway_operator_is_leader')).toEqual(['spillway-operator-0']);
    expect(await labels('route', 'spillway_vendor_requests_total')).toEqual(expect.arrayContaining(['push', 'sms']));
    // Both processes: one build_info each, and the default process metrics under the same names.
    expect(await labels('component', 'spillway_build_info')).toEqual(['operator', 'sidecar']);
    expect(await labels('pod', 'process_resident_memory_bytes')).toEqual(expect.arrayContaining(['spillway-operator-0', 'chat-0']));
    expect(await labels('name', 'workqueue_adds_total')).toEqual(['trafficpolicy']);

    // Every alert rule evaluates without error against these series; the refused file config
    // fires SpillwayConfigRejected (for: 0m) and the running leader keeps SpillwayOperatorNoLeader quiet.
    type RulesReply = { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const rules = ((await (await fetch(`${promUrl}/api/v1/rules`)).json()) as RulesReply).data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
    type AlertsReply = { data: { alerts: { labels: Record<string, string>; state: string }[] } };
    const firing = await waitLong('SpillwayConfigRejected firing', async () => {
      const alerts = ((await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as AlertsReply).data.alerts;
      return alerts.some((a) => a.labels.alertname === 'SpillwayConfigRejected' && a.labels.pod === 'chat-0' && a.state === 'firing') ? alerts : null;
    });
    expect(firing.map((a) => a.labels.alertname)).not.toContain('SpillwayOperatorNoLeader');
    expect(firing.map((a) => a.labels.alertname)).not.toContain('SpillwayOperatorWorkQueueStuck');
  }, 240_000);
});

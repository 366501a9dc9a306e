/**
 * Least privilege in Redis, per workload, against a real redis-server over TLS (`rediss://` to
 * one node): the default user is off, the operator logs in as its own ACL user and, with
 * --workload-redis-url, keeps one ACL user per protected workload and its URL in a Secret in
 * the workload's namespace (the API-server double). Two workloads' sidecars, each started with
 * the URL from its Secret, enforce their configs and deliver the same idempotency key each.
 * With workload A's credentials, B's config, B's vendor health and any config write are refused
 * (NOPERM). The keys' expiries fit `maxmemory-policy volatile-ttl` (configs and the operator's
 * keys never expire, dedup and vendor-health keys do). Deleting A's policy deletes A's user and
 * Secret.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { configKey, CONFIG_CHANNEL } from '../../api/config.js';
import { aclUserName, workloadSecretName } from '../../api/redis-acl.js';
import { vendorHealthKey } from '../../api/vendor-health.js';
import type { KubeDouble } from '../../e2e/kube-double/server.js';
import { deploymentYaml, ensureBuilt, installCrdsAndNamespace, Kubectl, startControlPlane, waitFor, waitReadyReplicas } from '../../e2e/support/control-plane.js';
import { configVersion, expectBudget, HoldingUpstream, Proc, send, startSidecar, Vendor, type Sidecar } from '../../e2e/support/sidecars.js';
import { freePort } from '../support/ports.js';
import { makeTlsFiles, type TlsFiles } from '../support/redis-topology.js';

const NS = 'spillway-acl';
const OPERATOR_USER = 'spillway-operator';
const OPERATOR_PASSWORD = 'operator pw/with:odd@chars';
const WORKLOADS = ['alpha', 'beta'] as const;

const policy = (name: string, vendorUrl: string) => `
apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRef: { kind: Deployment, name: ${name} }
  classes:
    - name: background-login
      match: [{ method: POST, path: /login }]
      priority: 10
      concurrency: { limit: 2, scope: Pod }
  defaultClass: { concurrency: { limit: 1000, scope: Pod } }
  routes:
    - name: push
      vendors: [{ name: fcm-a, url: "${vendorUrl}", timeoutMs: 2000 }]
      dedup: { ttlSeconds: 3600, onRedisDown: refuse }
`;

/** One redis-server, TLS only, default user off, the operator's user from the command line. */
class AclRedis {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly tls: TlsFiles,
  ) {}

  async start(): Promise<void> {
    const t = this.tls;
    this.child = spawn(
      'redis-server',
      [
        '--port', '0', '--tls-port', String(this.port), '--bind', '127.0.0.1',
        '--tls-cert-file', t.cert, '--tls-key-file', t.key, '--tls-ca-cert-file', t.ca, '--tls-auth-clients', 'no',
        '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'volatile-ttl',
        '--user', 'default', 'off',
        '--user', OPERATOR_USER, 'on', `>${OPERATOR_PASSWORD}`, '~*', '&*', '+@all',
      ],
      { stdio: 'ignore' },
    );
    await waitFor('redis-server over TLS', async () => {
      const c = this.client(OPERATOR_USER, OPERATOR_PASSWORD);
      try {
        return (await c.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    }, 10_000, 50);
  }

  client(username: string | undefined, password: string | undefined): Redis {
    return new Redis({
      host: '127.0.0.1',
      port: this.port,
      username,
      password,
      tls: { ca: readFileSync(this.tls.ca) },
      lazyConnect: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  }
}

describe('per-workload Redis ACL users over TLS (rediss:// to one node)', () => {
  let tmp: string;
  let redis: AclRedis;
  let admin: Redis;
  let double: KubeDouble | undefined;
  let k: Kubectl;
  let upstream: HoldingUpstream;
  let vendor: Vendor;
  let operator: Proc;
  const sidecars = new Map<string, Sidecar>();
  const urls = new Map<string, string>();
  const pending: Array<Promise<unknown>> = [];
  const baseUrl = () => `rediss://127.0.0.1:${redis.port}`;

  /** The Secret's url, decoded, through the real kubectl. */
  const secretUrl = async (workload: string): Promise<string | undefined> => {
    const r = await k.run(['get', 'secret', '-n', NS, workloadSecretName(workload), '-o', 'jsonpath={.data.url}']);
    return r.code === 0 && r.stdout ? Buffer.from(r.stdout, 'base64').toString('utf8') : undefined;
  };
  /** A client logged in as the workload's user, with the password from its Secret. */
  const asWorkload = (workload: string): Redis => {
    const u = new URL(urls.get(workload) as string);
    return redis.client(decodeURIComponent(u.username), decodeURIComponent(u.password));
  };

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'spillway-redis-acl-'));
    await ensureBuilt();
    redis = new AclRedis(await freePort(), makeTlsFiles(tmp));
    await redis.start();
    admin = redis.client(OPERATOR_USER, OPERATOR_PASSWORD);
    const env = { NODE_EXTRA_CA_CERTS: redis.tls.ca };
    const cp = await startControlPlane(tmp);
    double = cp.double;
    k = new Kubectl(cp.kubeconfig, join(tmp, 'kube-cache'));
    await installCrdsAndNamespace(k, NS);
    upstream = new HoldingUpstream();
    const upstreamPort = await upstream.start();
    vendor = new Vendor();
    const vendorUrl = await vendor.start();
    const operatorUrl = `rediss://${OPERATOR_USER}:${encodeURIComponent(OPERATOR_PASSWORD)}@127.0.0.1:${redis.port}`;
    operator = new Proc('operator', [
      'operator', '--kubeconfig', cp.kubeconfig, '--redis', operatorUrl, '--workload-redis-url', baseUrl(),
      '--namespace', NS, '--admin', String(await freePort()),
    ], env);
    for (const w of WORKLOADS) {
      await k.must(['apply', '-f', '-'], deploymentYaml(NS, w, 1));
      double?.setReadyReplicas(NS, w, 1);
      await waitReadyReplicas(k, NS, w, 1);
      await k.must(['apply', '-f', '-'], policy(w, vendorUrl));
    }
    for (const w of WORKLOADS) {
      urls.set(w, await waitFor(`the Secret of ${w}`, () => secretUrl(w), 30_000, 100));
      sidecars.set(w, await startSidecar({ pod: `${w}-0`, redis: urls.get(w) as string, configKey: `${NS}/${w}`, upstreamPort, stateRoot: tmp, env }));
    }
  }, 180_000);

  afterAll(async () => {
    upstream?.release();
    await Promise.allSettled(pending.splice(0));
    for (const s of sidecars.values()) await s.proc.stop('SIGKILL');
    await operator?.stop('SIGKILL');
    if (process.env.SPILLWAY_E2E_LOGS) for (const p of [operator, ...[...sidecars.values()].map((s) => s.proc)]) process.stderr.write(`--- ${p?.name}\n${p?.log}`);
    admin?.disconnect();
    await upstream?.close();
    await vendor?.close();
    await double?.close();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it("the Secret holds the workload's own user, over TLS, with a random password", () => {
    for (const w of WORKLOADS) {
      const u = new URL(urls.get(w) as string);
      expect(u.protocol).toBe('rediss:');
      expect(decodeURIComponent(u.username)).toBe(aclUserName(`${NS}/${w}`));
      expect(decodeURIComponent(u.password)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(urls.get('alpha')).not.toBe(urls.get('beta'));
  });

  it('both sidecars, each with its own user, enforce their config', async () => {
    for (const s of sidecars.values()) {
      await waitFor(`${s.pod} has a config`, async () => (await configVersion(s)) > 0, 30_000, 50);
      await expectBudget(upstream, s, 2, pending);
    }
  }, 90_000);

  it('the same idempotency key sent by A and by B is delivered to both, and only once each', async () => {
    const [a, b] = [sidecars.get('alpha') as Sidecar, sidecars.get('beta') as Sidecar];
    expect(await send(a, { 'idempotency-key': 'shared-1' })).toBe(200);
    expect(await send(b, { 'idempotency-key': 'shared-1' })).toBe(200);
    expect(vendor.byKey.get('shared-1')).toBe(2);
    // A repeat through A is answered from Redis (A's own key), not sent.
    expect(await send(a, { 'idempotency-key': 'shared-1' })).toBe(200);
    expect(vendor.byKey.get('shared-1')).toBe(2);
  }, 30_000);

  it("with A's credentials: B's config, B's vendor health and config writes are refused (NOPERM)", async () => {
    const a = asWorkload('alpha');
    try {
      expect(await a.get(configKey(`${NS}/alpha`))).toContain('"version"');
      await expect(a.get(configKey(`${NS}/beta`))).rejects.toThrow(/NOPERM/);
      await expect(a.hset(vendorHealthKey(`${NS}/beta`, 'push'), 'beta-0', '{}')).rejects.toThrow(/NOPERM/);
      await expect(a.set(configKey(`${NS}/alpha`), '{"version":999999}')).rejects.toThrow(/NOPERM/);
      await expect(a.set(configKey(`${NS}/beta`), '{}')).rejects.toThrow(/NOPERM/);
      await expect(a.del(configKey(`${NS}/beta`))).rejects.toThrow(/NOPERM/);
      await expect(a.get(`spillway:dedup:${NS}/beta:push:shared-1`)).rejects.toThrow(/NOPERM/);
      await expect(a.hgetall(vendorHealthKey(`${NS}/alpha`, 'push'))).rejects.toThrow(/NOPERM/);
      await expect(a.publish(CONFIG_CHANNEL, `${NS}/beta`)).rejects.toThrow(/NOPERM/);
      await expect(a.call('ACL', 'SETUSER', 'x', 'on')).rejects.toThrow(/NOPERM/);
      await expect(a.flushall()).rejects.toThrow(/NOPERM/);
      await expect(a.keys('*')).rejects.toThrow(/NOPERM/);
    } finally {
      a.disconnect();
    }
    // No usable default user.
    const anon = redis.client(undefined, undefined);
    anon.on('error', () => {}); // the refused login, also reported as an event
    try {
      await expect(anon.get(configKey(`${NS}/alpha`))).rejects.toThrow(/NOAUTH|NOPERM|WRONGPASS/);
    } finally {
      anon.disconnect();
    }
  }, 30_000);

  it('key expiries fit volatile-ttl: configs and operator keys never expire, dedup and vendor-health keys do', async () => {
    await waitFor('vendor-health reports from the sidecars', async () => (await admin.exists(vendorHealthKey(`${NS}/alpha`, 'push'))) === 1, 10_000, 100);
    expect(await admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'volatile-ttl']);
    expect(await admin.ttl(configKey(`${NS}/alpha`))).toBe(-1);
    expect(await admin.ttl(`spillway:config-version:${NS}/alpha`)).toBe(-1);
    expect(await admin.ttl('spillway:operator-marker')).toBe(-1);
    expect(await admin.ttl(`spillway:dedup:${NS}/alpha:push:shared-1`)).toBeGreaterThan(0);
    expect(await admin.ttl(vendorHealthKey(`${NS}/alpha`, 'push'))).toBeGreaterThan(0);
  }, 30_000);

  it("deleting A's policy deletes A's ACL user and Secret; B keeps working", async () => {
    await k.must(['delete', 'trafficpolicy', '-n', NS, 'alpha', '--wait=false']);
    await waitFor("A's ACL user is gone", async () => (await admin.call('ACL', 'GETUSER', aclUserName(`${NS}/alpha`))) === null, 30_000, 100);
    await waitFor("A's Secret is gone", async () => (await secretUrl('alpha')) === undefined, 30_000, 100);
    expect(await admin.call('ACL', 'GETUSER', aclUserName(`${NS}/beta`))).not.toBeNull();
    expect(await send(sidecars.get('beta') as Sidecar, { 'idempotency-key': 'after-delete' })).toBe(200);
  }, 60_000);
});

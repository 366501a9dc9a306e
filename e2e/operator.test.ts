/**
 * The operator end to end: the real `kubectl`, the real client library, the operator process
 * and a private redis-server, against the API-server double, or against a real cluster when
 * KUBECONFIG is set (see docs/operator.md for a kind recipe).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { CompiledConfig } from '../api/config.js';
import type { KubeDouble } from './kube-double/server.js';
import { deleteNamespace, deploymentYaml, ensureBuilt, installCrdsAndNamespace, Kubectl, REAL_CLUSTER, startControlPlane, waitFor, waitReadyReplicas, type RunResult } from './support/control-plane.js';
import { SpillwayProcess } from './support/spillway-process.js';
import { parseLogLines } from '../test/support/log.js';
import { RedisServer } from '../test/support/redis.js';
import { freePort } from '../test/support/ports.js';

const NS = `spillway-e2e-${Math.random().toString(36).slice(2, 8)}`;

const policy = (name: string, target: string, backgroundLimit: number | string) => `
apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRef: { kind: Deployment, name: ${target} }
  classes:
    - name: background-login
      match: [{ method: POST, path: /login, headers: { x-login-kind: background } }]
      priority: 10
      concurrency: { limit: ${backgroundLimit}, scope: Cluster }
      shedAtLevel: 1
    - name: send-message
      match: [{ method: POST, pathPrefix: /messages }]
      priority: 90
      concurrency: { limit: 200, scope: Pod }
      queue: { size: 200, timeoutMs: 250 }
`;

class Operator extends SpillwayProcess {
  constructor(
    readonly adminPort: number,
    args: string[],
  ) {
    super(['operator', '--admin', String(adminPort), ...args]);
  }

  async metric(name: string): Promise<number | undefined> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/metrics`);
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  }

  async isLeader(): Promise<boolean> {
    try {
      return (await this.metric('spillway_operator_is_leader')) === 1;
    } catch {
      return false;
    }
  }
}

describe(`spillway operator end to end (${REAL_CLUSTER ? 'real cluster' : 'API-server double'})`, () => {
  let double: KubeDouble | undefined;
  let redis: RedisServer;
  let client: Redis;
  let kubeconfig: string;
  let k: Kubectl;
  let tmp: string;
  const operators: Operator[] = [];

  const kubectl = (args: string[], input?: string): Promise<RunResult> => k.run(args, input);
  const mustKubectl = (args: string[], input?: string): Promise<string> => k.must(args, input);
  const getPolicy = async (name: string) =>
    JSON.parse(await mustKubectl(['get', 'trafficpolicy', name, '-n', NS, '-o', 'json'])) as {
      metadata: { generation: number; finalizers?: string[] };
      status?: { configVersion?: number; readyReplicas?: number; observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason: string; message: string }>; classes?: Array<{ name: string; podLimit: number }> };
    };
  const condition = async (name: string, type: string) => (await getPolicy(name)).status?.conditions?.find((c) => c.type === type);
  const stored = async (target: string): Promise<CompiledConfig | null> => {
    const raw = await client.get(`spillway:config:${NS}/${target}`);
    return raw ? (JSON.parse(raw) as CompiledConfig) : null;
  };
  const startOperator = async (extra: string[] = []): Promise<Operator> => {
    const op = new Operator(await freePort(), ['--kubeconfig', kubeconfig, '--redis', redis.url, '--namespace', NS, ...extra]);
    operators.push(op);
    return op;
  };
  const scale = async (name: string, replicas: number) => {
    await mustKubectl(['scale', 'deployment', name, '-n', NS, `--replicas=${replicas}`]);
    await waitReadyReplicas(k, NS, name, replicas);
  };

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'spillway-op-e2e-'));
    await ensureBuilt(['dist/operator/main.js'], ['operator', 'api', 'lib']);
    redis = await RedisServer.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    client.on('error', () => {});
    ({ kubeconfig, double } = await startControlPlane(tmp));
    k = new Kubectl(kubeconfig);
    await installCrdsAndNamespace(k, NS);
    await mustKubectl(['apply', '-f', '-'], deploymentYaml(NS, 'chat', 2));
    await scale('chat', 2);
  }, 240_000);

  afterAll(async () => {
    for (const op of operators) await op.stop('SIGKILL');
    if (process.env.SPILLWAY_E2E_LOGS) for (const op of operators) process.stderr.write(`--- operator :${op.adminPort}\n${op.log}`);
    if (REAL_CLUSTER && k) await deleteNamespace(k, NS);
    client?.disconnect();
    await redis?.stop();
    await double?.close();
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('publishes an applied policy and reports status', async () => {
    await startOperator();
    await mustKubectl(['apply', '-f', '-'], policy('chat', 'chat', 40));
    const doc = await waitFor('config in Redis', () => stored('chat'), 20_000);
    expect(doc.policy).toBe(`${NS}/chat`);
    expect(doc.readyReplicas).toBe(2);
    expect(doc.classes.map((c) => [c.name, c.limit])).toEqual([
      ['background-login', 20],
      ['send-message', 200],
      ['default', 100],
    ]);
    const p = await waitFor('Programmed status', async () => {
      const x = await getPolicy('chat');
      return x.status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True') ? x : undefined;
    });
    expect(p.metadata.finalizers).toContain('spillway.io/config');
    expect(p.status).toMatchObject({ observedGeneration: 1, configVersion: doc.version, readyReplicas: 2 });
    expect(p.status?.classes?.[0]).toEqual({ name: 'background-login', podLimit: 20 });
    expect(p.status?.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    const events = JSON.parse(await mustKubectl(['get', 'events', '-n', NS, '-o', 'json'])) as { items: Array<{ reason: string; involvedObject: { name: string } }> };
    expect(events.items.filter((e) => e.involvedObject.name === 'chat').map((e) => e.reason)).toEqual(expect.arrayContaining(['Accepted', 'Programmed']));

    // Its output is JSON log lines only (parseLogLines throws on any other), reconcile lines with the policy's key.
    const lines = parseLogLines(operators[0].log);
    expect(lines.find((l) => l.msg === 'operator started')).toMatchObject({ level: 'info', component: 'operator', namespaces: [NS] });
    expect(lines.find((l) => l.msg === 'config published')).toMatchObject({ level: 'info', component: 'operator.reconcile', key: `${NS}/chat`, version: doc.version });
  }, 60_000);

  it('re-divides Cluster budgets when the Deployment scales 2 → 4', async () => {
    const before = (await stored('chat'))?.version ?? 0;
    await scale('chat', 4);
    const t0 = Date.now();
    const doc = await waitFor('re-divided config', async () => {
      const d = await stored('chat');
      return d && d.readyReplicas === 4 ? d : undefined;
    }, 10_000);
    if (!REAL_CLUSTER) expect(Date.now() - t0).toBeLessThan(2000);
    expect(doc.version).toBeGreaterThan(before);
    expect(doc.classes[0]).toMatchObject({ name: 'background-login', limit: 10, policyLimit: 40 });
    await waitFor('status readyReplicas 4', async () => (await getPolicy('chat')).status?.readyReplicas === 4);
  }, 180_000);

  it('Redis killed: Programmed=False RedisUnavailable; restored: caught up', async () => {
    await redis.stop();
    await scale('chat', 2);
    const c = await waitFor('RedisUnavailable', async () => {
      const x = await condition('chat', 'Programmed');
      return x?.status === 'False' ? x : undefined;
    }, 20_000);
    expect(c.reason).toBe('RedisUnavailable');
    // The failed reconcile is a warning naming the policy, with the error's stack and its cause.
    const failed = parseLogLines(operators[0].log).find((l) => l.msg === 'reconcile failed; retrying with backoff');
    expect(failed).toMatchObject({
      level: 'warn',
      component: 'operator.reconcile',
      key: `${NS}/chat`,
      err: { type: 'RetryableError', message: expect.stringMatching(/^Redis unavailable/), stack: expect.stringMatching(/\n\s+at /), cause: { message: expect.any(String) } },
    });
    await redis.start();
    const doc = await waitFor('caught up', async () => {
      const d = await stored('chat');
      return d && d.readyReplicas === 2 ? d : undefined;
    }, 20_000);
    expect(doc.classes[0].limit).toBe(20);
    await waitFor('Programmed again', async () => (await condition('chat', 'Programmed'))?.status === 'True');
    await scale('chat', 4);
    await waitFor('re-divided again', async () => (await stored('chat'))?.readyReplicas === 4);
  }, 240_000);

  it('edits apply; an invalid edit is refused naming the field and enforcement is unchanged', async () => {
    await mustKubectl(['apply', '-f', '-'], policy('chat', 'chat', 80));
    const edited = await waitFor('edited config', async () => {
      const d = await stored('chat');
      return d && d.classes[0].policyLimit === 80 ? d : undefined;
    });
    expect(edited.classes[0].limit).toBe(20);

    // Zero is below the schema's minimum: refused by the API server, or else by the operator.
    const r = await kubectl(['apply', '-f', '-'], policy('chat', 'chat', 0));
    if (r.code !== 0) {
      expect(r.stderr).toMatch(/classes\[0\]\.concurrency\.limit|concurrency\.limit/);
    } else {
      const c = await waitFor('Accepted=False', async () => {
        const x = await condition('chat', 'Accepted');
        return x?.status === 'False' ? x : undefined;
      });
      expect(c.reason).toBe('Invalid');
      expect(c.message).toContain('spec.classes[0].concurrency.limit');
    }
    await new Promise((res) => setTimeout(res, 500));
    expect(await stored('chat')).toEqual(edited);
  }, 60_000);

  it('a second policy on the same Deployment is refused with Conflict', async () => {
    await mustKubectl(['apply', '-f', '-'], policy('chat-dup', 'chat', 5));
    const c = await waitFor('Conflict', async () => {
      const x = await condition('chat-dup', 'Accepted');
      return x?.status === 'False' ? x : undefined;
    });
    expect(c.reason).toBe('Conflict');
    expect((await stored('chat'))?.policy).toBe(`${NS}/chat`);
    await mustKubectl(['delete', 'trafficpolicy', 'chat-dup', '-n', NS]);
  }, 60_000);

  it('a ready pod of the target without the sidecar (the webhook unreachable) is reported, and cleared when it goes', async () => {
    // A target of its own with no replicas: on a real cluster the `chat` pods (no webhook here) are unprotected too.
    await mustKubectl(['apply', '-f', '-'], deploymentYaml(NS, 'bare', 0));
    await waitReadyReplicas(k, NS, 'bare', 0);
    await mustKubectl(['apply', '-f', '-'], policy('bare', 'bare', 40));
    const protectedCond = async () => (await getPolicy('bare')).status?.conditions?.find((c) => c.type === 'Protected');
    await waitFor('Protected=True', async () => (await protectedCond())?.status === 'True', 20_000);

    // Created directly, as if the injection webhook had been unreachable: no `spillway` container.
    // It matches the Deployment's selector but lacks pod-template-hash, so no ReplicaSet adopts it.
    await mustKubectl(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: { name: bare-unprotected, namespace: ${NS}, labels: { app: bare } }
spec:
  terminationGracePeriodSeconds: 0
  containers: [{ name: app, image: registry.k8s.io/pause:3.10 }]
`);
    if (REAL_CLUSTER) {
      await mustKubectl(['wait', '--for=condition=Ready', 'pod/bare-unprotected', '-n', NS, '--timeout=120s']);
    } else {
      // No kubelet in the double: report the pod ready through the status subresource, as a kubelet would.
      await mustKubectl(['patch', 'pod', 'bare-unprotected', '-n', NS, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}']);
    }
    const c = await waitFor('Protected=False', async () => {
      const x = await protectedCond();
      return x?.status === 'False' ? x : undefined;
    }, 20_000);
    expect(c.reason).toBe('UnprotectedPods');
    expect(c.message).toContain('bare-unprotected');
    expect((await getPolicy('bare')).status).toMatchObject({ unprotectedReplicas: 1 });
    const events = JSON.parse(await mustKubectl(['get', 'events', '-n', NS, '-o', 'json'])) as { items: Array<{ type: string; reason: string; message: string; involvedObject: { name: string } }> };
    expect(events.items.filter((e) => e.involvedObject.name === 'bare' && e.reason === 'UnprotectedPods')).toEqual([
      expect.objectContaining({ type: 'Warning', message: expect.stringContaining('bare-unprotected') }),
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${operators[0].adminPort}/metrics`)).text();
    expect(metrics).toContain(`spillway_operator_unprotected_replicas{policy_namespace="${NS}",policy="bare"} 1`);

    await mustKubectl(['delete', 'pod', 'bare-unprotected', '-n', NS, '--wait=false']);
    await waitFor('Protected=True again', async () => (await protectedCond())?.status === 'True', REAL_CLUSTER ? 60_000 : 20_000);
    expect((await getPolicy('bare')).status).toMatchObject({ unprotectedReplicas: 0 });
    await mustKubectl(['delete', 'trafficpolicy', 'bare', '-n', NS, '--timeout=30s']);
    await mustKubectl(['delete', 'deployment', 'bare', '-n', NS]);
  }, 240_000);

  it('deleting the policy removes its key (the finalizer runs first)', async () => {
    await mustKubectl(['delete', 'trafficpolicy', 'chat', '-n', NS, '--timeout=30s']);
    await waitFor('key removed', async () => (await stored('chat')) === null);
    const r = await kubectl(['get', 'trafficpolicy', 'chat', '-n', NS]);
    expect(r.code).not.toBe(0);
    const code = await operators[0].stop('SIGTERM');
    expect(code).toBe(0);
  }, 60_000);

  it('with leader election only one operator writes; killing it hands over to the standby', async () => {
    const fast = ['--leader-elect', '--lease-namespace', NS, '--lease-name', 'spillway-e2e', '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms'];
    const a = await startOperator(fast);
    const b = await startOperator(fast);
    const leader = await waitFor('a leader', async () => ((await a.isLeader()) ? a : (await b.isLeader()) ? b : undefined), 30_000);
    const standby = leader === a ? b : a;
    await new Promise((res) => setTimeout(res, 1500));
    expect(await standby.isLeader()).toBe(false);
    const ready = await fetch(`http://127.0.0.1:${standby.adminPort}/readyz`);
    expect(ready.status).toBe(200);

    await mustKubectl(['apply', '-f', '-'], policy('chat', 'chat', 40));
    const first = await waitFor('published by the leader', () => stored('chat'), 20_000);
    expect(first.classes[0].limit).toBe(10);
    expect(await standby.metric('spillway_operator_published_total')).toBe(0);

    const t0 = Date.now();
    await leader.stop('SIGKILL');
    await waitFor('standby takes the lease', () => standby.isLeader(), 15_000);
    // One lease duration (3 s) plus a retry period, with a generous margin for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(10_000);
    await mustKubectl(['apply', '-f', '-'], policy('chat', 'chat', 100));
    const next = await waitFor('published by the new leader', async () => {
      const d = await stored('chat');
      return d && d.classes[0].policyLimit === 100 ? d : undefined;
    }, 20_000);
    expect(next.version).toBeGreaterThan(first.version);
    expect(next.classes[0].limit).toBe(25);
    await mustKubectl(['delete', 'trafficpolicy', 'chat', '-n', NS, '--timeout=30s']);
    expect(await standby.stop('SIGTERM')).toBe(0);
  }, 120_000);
});

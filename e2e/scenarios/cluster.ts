/**
 * A small cluster on one machine for the control-plane scenarios: the API-server double
 * (in-process), a private redis-server, `spillway operator` processes (optionally with leader
 * election) and the Deployment `chat` with its TrafficPolicy in namespace `scenarios`, set up
 * with the real kubectl as e2e/operator-sidecars.test.ts does.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TrafficPolicySpecInput } from '../../api/policy.js';
import { spawnChild, type Child } from '../apps/child-process.js';
import { freePort } from '../apps/free-port.js';
import { repoRoot } from '../apps/launch.js';
import { startKubeDouble, type KubeDouble } from '../kube-double/server.js';
import { SIDECAR_NAME } from '../../operator/webhook.js';
import { NAMESPACE, RedisProcess } from './control-plane.js';

export const LEASE = { duration: '4s', renew: '3s', retry: '1s', durationMs: 4000 };

function kubectl(kubeconfig: string, cacheDir: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err}`))));
    child.stdin.end(input ?? '');
  });
}

const deployment = (replicas: number): string =>
  stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'chat', namespace: NAMESPACE },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'chat' } },
      template: { metadata: { labels: { app: 'chat' } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
    },
  });

export interface OperatorProcess {
  name: string;
  child: Child;
}

export class Cluster {
  readonly operators: OperatorProcess[] = [];

  private constructor(
    readonly double: KubeDouble,
    readonly redis: RedisProcess,
    private readonly kubeconfig: string,
    private readonly cacheDir: string,
  ) {}

  static async start(workDir: string, replicas: number): Promise<Cluster> {
    const double = await startKubeDouble({ port: 0, crdDir: join(repoRoot(), 'crds') });
    const kubeconfig = join(workDir, 'kubeconfig');
    double.writeKubeconfig(kubeconfig);
    let redis: RedisProcess;
    try {
      redis = await RedisProcess.start();
    } catch (err) {
      await double.close();
      throw err;
    }
    const c = new Cluster(double, redis, kubeconfig, join(workDir, 'kube-cache'));
    await c.kubectl(['create', 'namespace', NAMESPACE]);
    await c.kubectl(['apply', '-f', '-'], deployment(replicas));
    double.setReadyReplicas(NAMESPACE, 'chat', replicas);
    return c;
  }

  kubectl(args: string[], input?: string): Promise<string> {
    return kubectl(this.kubeconfig, this.cacheDir, args, input);
  }

  async applyPolicy(spec: TrafficPolicySpecInput): Promise<void> {
    const doc = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'chat', namespace: NAMESPACE }, spec };
    await this.kubectl(['apply', '-f', '-'], stringify(doc));
  }

  /** Starts `spillway operator` as pod `name`; with leaderElect, it competes for the Lease. */
  async startOperator(name: string, leaderElect: boolean): Promise<OperatorProcess> {
    const args = [
      join(repoRoot(), 'bin', 'spillway.js'),
      'operator',
      '--kubeconfig', this.kubeconfig,
      '--redis', this.redis.url,
      '--namespace', NAMESPACE,
      '--admin', String(await freePort()),
      ...(leaderElect
        ? ['--leader-elect', '--lease-namespace', NAMESPACE, '--lease-duration', LEASE.duration, '--renew-deadline', LEASE.renew, '--retry-period', LEASE.retry]
        : []),
    ];
    const op = { name, child: spawnChild(name, process.execPath, args, { ...process.env, POD_NAME: name }) };
    this.operators.push(op);
    return op;
  }

  /** Scales the Deployment and reports the new replicas ready, as the kubelets would. */
  async scale(replicas: number): Promise<void> {
    const res = await fetch(`${this.double.url}/apis/apps/v1/namespaces/${NAMESPACE}/deployments/chat`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas } }),
    });
    if (!res.ok) throw new Error(`scale to ${replicas}: ${res.status} ${await res.text()}`);
    this.double.setReadyReplicas(NAMESPACE, 'chat', replicas);
  }

  /**
   * Pods of the Deployment (labels `app: chat`, the app and the `spillway` sidecar container,
   * as the webhook would have injected it), created if missing, Ready or not as a kubelet would
   * report them: the operator lists the first ready ones by name for a Cluster remainder.
   */
  async setPods(pods: ReadonlyArray<{ name: string; ready: boolean }>): Promise<void> {
    const base = `${this.double.url}/api/v1/namespaces/${NAMESPACE}/pods`;
    for (const { name, ready } of pods) {
      const exists = await fetch(`${base}/${name}`);
      if (!exists.ok) {
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: NAMESPACE, labels: { app: 'chat' } },
          spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }, { name: SIDECAR_NAME, image: 'spillway' }] },
        };
        const res = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod) });
        if (!res.ok) throw new Error(`create pod ${name}: ${res.status} ${await res.text()}`);
      }
      const status = { status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } };
      const res = await fetch(`${base}/${name}/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(status) });
      if (!res.ok) throw new Error(`pod ${name} status: ${res.status} ${await res.text()}`);
    }
  }

  /** The Lease's holder (the operator's POD_NAME prefix), or null. */
  async leaseHolder(): Promise<string | null> {
    try {
      const res = await fetch(`${this.double.url}/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/spillway-operator`, {
        signal: AbortSignal.timeout(1000),
      });
      if (!res.ok) return null;
      const lease = (await res.json()) as { spec?: { holderIdentity?: string } };
      const holder = lease.spec?.holderIdentity;
      return holder ? holder.replace(/_[0-9a-f]+$/, '') : null;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    for (const op of this.operators) await op.child.stop(2000);
    await this.redis.stop();
    await this.double.close();
  }
}

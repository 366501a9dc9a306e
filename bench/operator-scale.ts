/**
 * Cold start with many policies: N Deployments and N TrafficPolicies (one each) are created in
 * the API-server double (over HTTP, before the operator exists), then the operator process is
 * started and timed until every compiled config is in Redis, and until every policy's status
 * says Programmed. CPU seconds of the operator, of this process (which hosts the double) and
 * of redis-server tell which one is the bottleneck.
 *
 *   npm run build && node dist/bench/operator-scale.js [--policies 1000] [--workers 4]
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startKubeDouble } from '../e2e/kube-double/server.js';
import { cpuSeconds, freePort, ms, run, spillway, startRedis, tempDir, waitFor, ROOT, type Proc } from './operator-harness.js';

const NS = 'bench';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const deployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
  },
});

const policy = (name: string) => ({
  apiVersion: 'spillway.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name, namespace: NS },
  spec: {
    targetRef: { kind: 'Deployment', name },
    classes: [
      { name: 'background-login', match: [{ method: 'POST', path: '/login' }], priority: 10, concurrency: { limit: 40, scope: 'Cluster' } },
      { name: 'send-message', match: [{ method: 'POST', pathPrefix: '/messages' }], priority: 90, concurrency: { limit: 200, scope: 'Pod' } },
    ],
  },
});

/** Runs `fn` over items with `width` in flight at once. */
async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function main(): Promise<void> {
  const n = Number(arg('policies', '1000'));
  const workers = arg('workers', '4');
  const tmp = tempDir('spillway-bench-op-scale-');
  const procs: Proc[] = [];
  const double = await startKubeDouble({ port: 0, crdDir: join(ROOT, 'crds'), historyLimit: 20 * n });
  let redis: Redis | undefined;
  try {
    const kubeconfig = join(tmp, 'kubeconfig');
    double.writeKubeconfig(kubeconfig);
    const r = await run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(tmp, 'kube-cache'), 'create', 'namespace', NS]);
    if (r.code !== 0) throw new Error(r.stderr);

    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${double.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
      await res.body?.cancel();
    };
    const names = Array.from({ length: n }, (_, i) => `app-${String(i).padStart(4, '0')}`);
    const c0 = performance.now();
    await pool(names, 8, (name) => post(`/apis/apps/v1/namespaces/${NS}/deployments`, deployment(name)));
    await pool(names, 8, (name) => post(`/apis/spillway.io/v1alpha1/namespaces/${NS}/trafficpolicies`, policy(name)));
    const createMs = performance.now() - c0;

    const redisProc = await startRedis();
    procs.push(redisProc.proc);
    redis = new Redis(redisProc.url);
    const admin = await freePort();
    const cpuBefore = process.cpuUsage();
    const t0 = performance.now();
    const op = spillway(['operator', '--kubeconfig', kubeconfig, '--redis', redisProc.url, '--namespace', NS, '--admin', String(admin), '--workers', workers]);
    procs.push(op);

    let readyMs = 0;
    let opCpuReady = 0;
    let firstKeyMs = 0;
    const keys = async () => {
      let count = 0;
      let cursor = '0';
      do {
        const [c, batch] = await redis!.scan(cursor, 'MATCH', 'spillway:config:*', 'COUNT', 1000);
        cursor = c;
        count += batch.length;
      } while (cursor !== '0');
      return count;
    };
    await waitFor(`${n} keys in Redis`, async () => {
      if (!readyMs) {
        const res = await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => undefined);
        if (res?.status === 200) {
          readyMs = performance.now() - t0;
          opCpuReady = await cpuSeconds(op.child.pid);
        }
        await res?.body?.cancel();
      }
      const k = await keys();
      if (k > 0 && !firstKeyMs) firstKeyMs = performance.now() - t0;
      return k >= n;
    }, 120_000, 25);
    const allKeysMs = performance.now() - t0;
    const opCpuKeys = await cpuSeconds(op.child.pid);
    const benchCpuKeys = process.cpuUsage(cpuBefore);

    const programmed = async () => {
      const res = await fetch(`${double.url}/apis/spillway.io/v1alpha1/namespaces/${NS}/trafficpolicies`);
      const list = (await res.json()) as { items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> };
      return list.items.filter((p) => p.status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True')).length;
    };
    await waitFor(`${n} policies Programmed`, async () => (await programmed()) >= n, 180_000, 250);
    const allStatusMs = performance.now() - t0;
    const opCpu = await cpuSeconds(op.child.pid);
    const benchCpu = process.cpuUsage(cpuBefore);
    const redisCpu = await cpuSeconds(redisProc.proc.child.pid);
    const cpu = (u: NodeJS.CpuUsage) => ((u.user + u.system) / 1e6).toFixed(1);

    const table = [
      `cold start with ${n} policies (each with its own Deployment) in the API-server double, --workers ${workers}`,
      '',
      '| measure | value |',
      '|---|---|',
      `| creating ${2 * n} objects in the double (HTTP, 8 at a time; before the operator starts) | ${ms(createMs)} |`,
      `| operator started → /readyz (informers listed) | ${ms(readyMs)} |`,
      `| operator started → first key in Redis | ${ms(firstKeyMs)} |`,
      `| operator started → all ${n} keys in Redis | ${ms(allKeysMs)} |`,
      `| operator started → all ${n} statuses Programmed | ${ms(allStatusMs)} |`,
      `| operator CPU until /readyz (start-up and the initial lists) | ${opCpuReady.toFixed(1)} s |`,
      `| CPU until all keys: operator / this process (the double) | ${opCpuKeys.toFixed(1)} s / ${cpu(benchCpuKeys)} s |`,
      `| CPU until all statuses: operator / the double / redis-server | ${opCpu.toFixed(1)} s / ${cpu(benchCpu)} s / ${redisCpu.toFixed(2)} s |`,
    ].join('\n');
    process.stdout.write(`load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n${table}\ntarget all keys < 10 s: ${allKeysMs < 10_000 ? 'met' : 'MISSED'}\n`);
  } finally {
    redis?.disconnect();
    // SIGTERM: the operator exits cleanly (so NODE_OPTIONS=--cpu-prof can write a profile).
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    await double.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`operator-scale: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

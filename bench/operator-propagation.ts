/**
 * Time from `kubectl apply` (an edit of a limit) to every sidecar enforcing it: the API-server
 * double, the operator process, a redis-server and two sidecar processes; each edit's time is
 * until both sidecars' /config (polled every 5 ms) shows the new limit. Also reports how much of
 * it kubectl itself takes (process start, discovery, the PATCH), and a second series of edits
 * written straight to the API (one HTTP merge patch, as a GitOps controller would) that leaves
 * the kubectl process out.
 *
 *   npm run build && node dist/bench/operator-propagation.js [--edits 50] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startKubeDouble } from '../e2e/kube-double/server.js';
import { freePort, ms, percentile, run, spillway, startRedis, tempDir, waitFor, ROOT, type Proc } from './operator-harness.js';

const NS = 'bench';

const policy = (limit: number) => `
apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: chat, namespace: ${NS} }
spec:
  targetRef: { kind: Deployment, name: chat }
  classes:
    - name: send-message
      match: [{ method: POST, pathPrefix: /messages }]
      concurrency: { limit: ${limit}, scope: Pod }
`;

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: chat, namespace: ${NS} }
spec:
  replicas: 2
  selector: { matchLabels: { app: chat } }
  template:
    metadata: { labels: { app: chat } }
    spec: { containers: [{ name: app, image: registry.k8s.io/pause:3.10 }] }
`;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

interface Sample {
  /** Until both sidecars enforce. */
  total: number;
  /** Until the write (kubectl, or the PATCH) returned. */
  write: number;
  /** Until the first sidecar enforces. */
  first: number;
}

async function main(): Promise<void> {
  const edits = Number(arg('edits', '50'));
  const tmp = tempDir('spillway-bench-op-prop-');
  const procs: Proc[] = [];
  const double = await startKubeDouble({ port: 0, crdDir: join(ROOT, 'crds') });
  const upstream = createServer((_req, res) => res.end('ok'));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  try {
    const kubeconfig = join(tmp, 'kubeconfig');
    double.writeKubeconfig(kubeconfig);
    const kubectl = async (args: string[], input?: string) => {
      const r = await run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(tmp, 'kube-cache'), ...args], input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    };
    await kubectl(['apply', '-f', 'crds/']);
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['apply', '-f', '-'], deployment);

    const redis = await startRedis();
    procs.push(redis.proc);
    procs.push(spillway(['operator', '--kubeconfig', kubeconfig, '--redis', redis.url, '--namespace', NS, '--admin', String(await freePort())]));
    const admins: number[] = [];
    for (const pod of ['chat-0', 'chat-1']) {
      const admin = await freePort();
      admins.push(admin);
      procs.push(
        spillway([
          'sidecar', '--redis', redis.url, '--config-key', `${NS}/chat`, '--pod-name', pod,
          '--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, '--host', '127.0.0.1',
          '--listen', String(await freePort()), '--admin', String(admin), '--egress', String(await freePort()),
          '--state-dir', join(tmp, pod), '--log-level', 'warn',
        ]),
      );
    }
    const limitOn = async (admin: number): Promise<number | undefined> => {
      const res = await fetch(`http://127.0.0.1:${admin}/config`);
      if (res.status !== 200) {
        await res.body?.cancel();
        return undefined;
      }
      const c = (await res.json()) as { config: { classes: Array<{ policyLimit: number }> } };
      return c.config.classes[0].policyLimit;
    };

    await kubectl(['apply', '-f', '-'], policy(1000));
    for (const a of admins) await waitFor('first config on the sidecars', async () => (await limitOn(a)) === 1000, 30_000, 50);

    const patchUrl = `${double.url}/apis/spillway.io/v1alpha1/namespaces/${NS}/trafficpolicies/chat`;
    const patch = async (limit: number) => {
      const body = { spec: { classes: [{ name: 'send-message', match: [{ method: 'POST', pathPrefix: '/messages' }], concurrency: { limit, scope: 'Pod' } }] } };
      const res = await fetch(patchUrl, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`PATCH: ${res.status} ${await res.text()}`);
      await res.body?.cancel();
    };
    const series = async (limitBase: number, write: (limit: number) => Promise<void>): Promise<Sample[]> => {
      const samples: Sample[] = [];
      for (let i = 0; i < edits; i++) {
        const limit = limitBase + i;
        const t0 = performance.now();
        let writeDone = 0;
        const applied = write(limit).then(() => (writeDone = performance.now() - t0));
        const seen: number[] = [];
        await Promise.all(
          admins.map(async (a, j) => {
            for (;;) {
              if ((await limitOn(a)) === limit) {
                seen[j] = performance.now() - t0;
                return;
              }
              if (performance.now() - t0 > 30_000) throw new Error(`edit ${i} not enforced on :${a} within 30 s`);
              await new Promise((r) => setTimeout(r, 5));
            }
          }),
        );
        await applied;
        samples.push({ total: Math.max(...seen), write: writeDone, first: Math.min(...seen) });
        await new Promise((r) => setTimeout(r, 100));
      }
      return samples;
    };

    const viaKubectl = await series(1001, (limit) => kubectl(['apply', '-f', '-'], policy(limit)));
    const viaApi = await series(2001, patch);

    const sorted = (xs: Sample[], f: (s: Sample) => number) => xs.map(f).sort((a, b) => a - b);
    const row = (name: string, xs: number[]) => `| ${name} | ${ms(percentile(xs, 50))} | ${ms(percentile(xs, 99))} | ${ms(xs[xs.length - 1])} |`;
    const total = sorted(viaKubectl, (s) => s.total);
    const table = [
      `edit → both sidecars enforcing, ${edits} edits per series, 2 sidecars, /config polled every 5 ms`,
      '',
      '| measure | p50 | p99 | max |',
      '|---|---|---|---|',
      row('`kubectl apply` started → both sidecars enforce the new limit', total),
      row('… `kubectl apply` alone (process start to exit)', sorted(viaKubectl, (s) => s.write)),
      row('… first sidecar enforcing', sorted(viaKubectl, (s) => s.first)),
      row('API merge patch sent → both sidecars enforce', sorted(viaApi, (s) => s.total)),
      row('… the PATCH request alone', sorted(viaApi, (s) => s.write)),
    ].join('\n');
    process.stdout.write(`load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n${table}\n`);
    const out = arg('json', '');
    if (out) writeFileSync(out, JSON.stringify({ edits, viaKubectl, viaApi }, null, 1));
    process.stdout.write(`target p99 < 1 s (kubectl apply → enforced): ${percentile(total, 99) < 1000 ? 'met' : 'MISSED'}\n`);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    upstream.close();
    await double.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`operator-propagation: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

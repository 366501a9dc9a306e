/**
 * What the operator end-to-end tests and benchmarks share: commands run from the repo root,
 * polling, building dist/ when stale, and the control plane (the API-server double with a
 * written kubeconfig, or the real cluster KUBECONFIG names) driven through the real `kubectl`.
 * Built into dist/ with the rest of e2e/, so it must not import test/.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startKubeDouble, type KubeDouble } from '../kube-double/server.js';

export const ROOT = process.cwd();
/** A real cluster when KUBECONFIG is set; the in-process API-server double otherwise. */
export const REAL_CLUSTER = Boolean(process.env.KUBECONFIG);
/** A real cluster starts pods; the double makes replicas ready at once. */
export const READY_TIMEOUT = REAL_CLUSTER ? 120_000 : 10_000;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in the repo root with `input` on stdin; never rejects on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Polls fn until it returns something truthy (a throw counts as "not yet"); the timeout names the last error. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<Exclude<T, null | undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, null | undefined | false>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Newest mtime under a folder (TypeScript sources only). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** bin/spillway.js runs dist/: builds it when any of `srcDirs` is newer than the `entries`. */
export async function ensureBuilt(entries = ['dist/operator/main.js', 'dist/sidecar/main.js'], srcDirs = ['operator', 'sidecar', 'api', 'lib']): Promise<void> {
  const paths = entries.map((e) => join(ROOT, e));
  const src = Math.max(...srcDirs.map((d) => newest(join(ROOT, d))));
  if (paths.every((e) => existsSync(e) && statSync(e).mtimeMs > src)) return;
  const res = await run('npx', ['tsc', '-p', 'tsconfig.build.json']);
  if (!paths.every((e) => existsSync(e))) throw new Error(`build failed:\n${res.stdout}${res.stderr}`);
}

/** `kubectl --kubeconfig …` (and `--cache-dir` when given); `must` throws on a non-zero exit. */
export class Kubectl {
  constructor(
    readonly kubeconfig: string,
    private readonly cacheDir?: string,
  ) {}

  run(args: string[], input?: string): Promise<RunResult> {
    const cache = this.cacheDir ? ['--cache-dir', this.cacheDir] : [];
    return run('kubectl', ['--kubeconfig', this.kubeconfig, ...cache, ...args], input);
  }

  async must(args: string[], input?: string): Promise<string> {
    const r = await this.run(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }
}

export interface ControlPlane {
  kubeconfig: string;
  /** Undefined on a real cluster. */
  double?: KubeDouble;
}

/** The real cluster KUBECONFIG names, or the API-server double with its kubeconfig written into `dir`. */
export async function startControlPlane(dir: string): Promise<ControlPlane> {
  if (REAL_CLUSTER) return { kubeconfig: process.env.KUBECONFIG as string };
  const double = await startKubeDouble({ port: 0, crdDir: join(ROOT, 'crds') });
  const kubeconfig = join(dir, 'kubeconfig');
  double.writeKubeconfig(kubeconfig);
  return { kubeconfig, double };
}

/** Applies the CRDs (waiting until a real cluster established them) and creates the namespace. */
export async function installCrdsAndNamespace(kubectl: Kubectl, ns: string): Promise<void> {
  await kubectl.must(['apply', '-f', 'crds/']);
  if (REAL_CLUSTER) await kubectl.must(['wait', '--for', 'condition=established', '--timeout=60s', 'crd/trafficpolicies.spillway.io']);
  await kubectl.must(['create', 'namespace', ns]);
}

/** A Deployment of pause containers (labels app=<name>) for the operator to target. */
export function deploymentYaml(ns: string, name: string, replicas: number): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{ name: app, image: registry.k8s.io/pause:3.10 }]
`;
}

/** Waits until the Deployment reports exactly `replicas` ready. */
export async function waitReadyReplicas(kubectl: Kubectl, ns: string, name: string, replicas: number): Promise<void> {
  await waitFor(`${name} ready ${replicas}`, async () => {
    const d = JSON.parse(await kubectl.must(['get', 'deployment', name, '-n', ns, '-o', 'json'])) as { status?: { readyReplicas?: number } };
    return (d.status?.readyReplicas ?? 0) === replicas;
  }, READY_TIMEOUT);
}

/** On a real cluster: deletes the test namespace. Finalizers would hold it with no operator running: drop them first. */
export async function deleteNamespace(kubectl: Kubectl, ns: string): Promise<void> {
  const list = await kubectl.run(['get', 'trafficpolicies', '-n', ns, '-o', 'name']);
  for (const name of list.stdout.split('\n').filter(Boolean)) {
    await kubectl.run(['patch', name, '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  }
  await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
}

/**
 * The chart's `helm test` hook without a cluster. The rendered test pod goes through the
 * webhook's own admission (operator/webhook.ts `review`, with the rendered injection settings);
 * the injected sidecar container runs as a local process with its args and env (cluster-bound
 * parts replaced: Redis by a private redis-server, ports by free ones, the state volume by a
 * temporary folder); then the pod's check container runs as rendered (its command, args and env)
 * and must exit 0. Without a sidecar it must exit 1 and say the pod was not injected.
 *
 * Not shown here: a kubelet running the pod (that the pod completes once the check exits, because
 * the sidecar is a native sidecar, is Kubernetes' contract; e2e/kind/install.sh runs `helm test`
 * on a real cluster). Needs the build (`npm test` builds first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { jsonPatch } from '../../e2e/kube-double/patch.js';
import { parseInjectionSettings, review } from '../../operator/webhook.js';
import { helm, REPO_ROOT } from '../support/helm.js';
import { freePort } from '../support/ports.js';
import { RedisServer } from '../support/redis.js';

const RELEASE = 'sw';
const NAMESPACE = 'spillway-system';

type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };
type EnvVar = { name: string; value?: string; valueFrom?: unknown };

function render(args: string[] = []): Obj[] {
  const r = helm(['template', RELEASE, join(REPO_ROOT, 'charts', 'spillway'), '--namespace', NAMESPACE, ...args]);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const testPod = (objects: Obj[]): Obj | undefined => objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');

/** The pod as the API server stores it after the webhook's patch. */
function admit(objects: Obj[]): Obj {
  const pod = testPod(objects)!;
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${RELEASE}-spillway-injection`)!;
  const settings = parseInjectionSettings(JSON.parse(cm.data['sidecar.json']));
  const r = review(
    { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', kind: { kind: 'Pod' }, operation: 'CREATE', namespace: pod.metadata.namespace, object: pod } },
    settings,
  );
  if (r.status !== 200) throw new Error(r.error);
  expect(r.body.response.warnings).toBeUndefined();
  return jsonPatch(structuredClone(pod), r.patch) as Obj;
}

const envOf = (container: { env: EnvVar[] }): Record<string, string> => Object.fromEntries(container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));

interface Process {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Process {
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, output: () => out, exited };
}

async function stop(p: Process | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  process.kill(p.child.pid!, 'SIGKILL');
  await p.exited;
}

/** The check container as rendered (`command: [node, -e]`, the script in args), on this node. */
function runCheck(pod: Obj, adminPort: number, timeoutSeconds?: number): Process {
  const [check] = pod.spec.containers;
  expect(check.command).toEqual(['node', '-e']);
  const env = { ...envOf(check), SPILLWAY_ADMIN_PORT: String(adminPort), ...(timeoutSeconds ? { SPILLWAY_TEST_TIMEOUT_SECONDS: String(timeoutSeconds) } : {}) };
  return start(['-e', ...check.args], env);
}

describe('the helm test hook, admitted by the webhook and run against the injected sidecar', () => {
  let redis: RedisServer;
  let dir: string;
  let sidecar: Process | undefined;
  let check: Process | undefined;

  beforeAll(async () => {
    redis = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'spillway-helm-test-'));
  });

  afterAll(async () => {
    await stop(check);
    await stop(sidecar);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the webhook injects a native sidecar; the check is the only app container and reads its admin port', () => {
    const pod = admit(render());
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.containers.map((c: { name: string }) => c.name)).toEqual(['check']);
    const [injected] = pod.spec.initContainers;
    expect({ name: injected.name, restartPolicy: injected.restartPolicy }).toEqual({ name: 'spillway', restartPolicy: 'Always' });
    expect(envOf(pod.spec.containers[0]).SPILLWAY_ADMIN_PORT).toBe(envOf(injected).SPILLWAY_ADMIN);
    expect(pod.metadata.annotations?.['spillway.io/injected']).toBe(`default/${RELEASE}-spillway-test-injection`);
  });

  it('the check container exits 0 against the sidecar started as injected', async () => {
    const pod = admit(render());
    const [injected] = pod.spec.initContainers;
    const [listen, admin, egress] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...envOf(injected),
      SPILLWAY_REDIS: redis.url,
      SPILLWAY_LISTEN: String(listen),
      SPILLWAY_ADMIN: String(admin),
      SPILLWAY_EGRESS: String(egress),
      SPILLWAY_STATE_DIR: dir,
      SPILLWAY_HOST: '127.0.0.1',
      POD_NAME: pod.metadata.name,
    };
    sidecar = start([join(REPO_ROOT, 'bin', 'spillway.js'), ...injected.args], env);
    check = runCheck(pod, admin);
    const code = await check.exited;
    expect({ code, output: check.output() }).toEqual({ code: 0, output: `ok: the Spillway sidecar answers on http://127.0.0.1:${admin} (/healthz, /metrics)\n` });
    await stop(sidecar);
  }, 60_000);

  it('without a sidecar the check exits 1 and says the pod was not injected', async () => {
    const pod = admit(render());
    const nothing = await freePort();
    check = runCheck(pod, nothing, 1);
    const code = await check.exited;
    expect(code).toBe(1);
    expect(check.output()).toMatch(new RegExp(`no Spillway sidecar on http://127\\.0\\.0\\.1:${nothing} after 1s \\(.*\\): the pod was not injected`));
  }, 30_000);

  it('follows sidecar.ports.admin', () => {
    const pod = admit(render(['--set', 'sidecar.ports.admin=19090']));
    expect(envOf(pod.spec.containers[0]).SPILLWAY_ADMIN_PORT).toBe('19090');
    expect(envOf(pod.spec.initContainers[0]).SPILLWAY_ADMIN).toBe('19090');
  });
});

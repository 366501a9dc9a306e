/**
 * `helm install` with defaults, as far as it goes without a cluster: the chart rendered by the
 * real helm is applied with the real kubectl to the API-server double (every object must be
 * accepted), then the operator Deployment's pods are run as local processes exactly as the
 * rendered Deployment starts them (its args and env; only the Redis URL, the ports, the mounted
 * ConfigMaps and the credentials are local): they must become ready, elect a leader on the Lease
 * the args name, reconcile examples/chat-policy.yaml and serve the sidecar-injection webhook
 * (on by default) over HTTPS with a certificate that the CA they patched into the rendered
 * MutatingWebhookConfiguration verifies. An upgrade of an injection default then rolls the pods:
 * the new ones take over, keep the same CA and inject the new default. The kind recipe that
 * does the same on a real cluster is e2e/kind/install.sh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseAllDocuments } from 'yaml';
import { startKubeDouble, type KubeDouble } from './kube-double/server.js';
import { ensureBuilt, run, waitFor as pollUntil, type RunResult as Run } from './support/control-plane.js';
import { helm } from '../test/support/helm.js';
import { freePort } from '../test/support/ports.js';
import { RedisServer } from '../test/support/redis.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RELEASE = 'spillway';
const NS = 'spillway-system';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

/** Slower cadence than the shared default: the chart's pods take a while on a loaded machine. */
const waitFor = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000) => pollUntil(what, fn, timeoutMs, 100);

function render(args: string[] = []): { yaml: string; objects: Obj[] } {
  // No test hooks: `helm install` does not create them, `helm test` does.
  const r = helm(['template', RELEASE, 'charts/spillway', '--namespace', NS, '--skip-tests', ...args]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
  return { yaml: r.stdout, objects };
}

const one = (objects: Obj[], kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0];
};
/** kind/namespace/name, with helm's release namespace for a namespaced object rendered without one. */
const ref = (o: Obj, namespaced: (o: Obj) => boolean): string => `${o.kind}/${namespaced(o) ? (o.metadata.namespace ?? NS) : ''}/${o.metadata.name}`;

/** One operator replica: the rendered container's args and env, run as a local process. */
class Replica {
  private readonly child: ChildProcess;
  log = '';

  constructor(
    readonly podName: string,
    readonly adminPort: number,
    readonly webhookPort: number,
    args: string[],
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, ['bin/spillway.js', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** SIGTERM as a rollout stops a pod (the lease is handed back); SIGKILL in cleanup. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    const done = once(this.child, 'exit');
    process.kill(this.child.pid, signal);
    await done;
  }
}

interface HttpsReply {
  status: number;
  body: any;
}

/** HTTPS to the webhook as the API server calls it: server name of the Service, CA from caBundle. */
function callWebhook(port: number, ca: string, servername: string, method: string, path: string, body?: unknown): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { host: '127.0.0.1', port, method, path, ca, servername, agent: false, headers: text ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

const exampleWorkload = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: chat, namespace: talk }
spec:
  replicas: 2
  selector: { matchLabels: { app: chat } }
  template:
    metadata: { labels: { app: chat, spillway.io/inject: "true" } }
    spec:
      containers: [{ name: app, image: registry.k8s.io/pause:3.10, ports: [{ name: http, containerPort: 8080 }] }]
`;

describe('helm install with defaults, against the API-server double', () => {
  let tmp: string;
  let kubeconfig: string;
  /** The same double with the release namespace as the context's: where helm puts objects without one. */
  let helmKubeconfig: string;
  let double: KubeDouble;
  let redis: RedisServer;
  let client: Redis;
  /** Every replica started, for cleanup. */
  const started: Replica[] = [];
  /** The pods of the current release revision. */
  let pods: Replica[] = [];
  /** The current release revision's objects, as rendered. */
  let install: Obj[];
  /** The CA the default install's replicas patched into the caBundle (PEM). */
  let firstCa: string;

  const kubectl = (args: string[], input?: string): Promise<Run> => run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(tmp, 'cache'), ...args], input);
  const mustKubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  /**
   * Applies a rendering as `helm install -n` would (objects without a namespace go to the
   * release's), reads every object back and checks it is each rendered one, where expected.
   */
  const applyAndCheck = async (yaml: string, rendered: Obj[]): Promise<Obj[]> => {
    // Not `kubectl -n`: it refuses objects that name another namespace, which helm accepts.
    const asHelm = ['--kubeconfig', helmKubeconfig, '--cache-dir', join(tmp, 'cache')];
    const applied = await run('kubectl', [...asHelm, 'apply', '-f', '-'], yaml);
    if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
    const got = await run('kubectl', [...asHelm, 'get', '-f', '-', '-o', 'json'], yaml);
    if (got.code !== 0) throw new Error(`kubectl get failed: ${got.stderr}`);
    const stored = (JSON.parse(got.stdout) as { items: Obj[] }).items;
    const namespacedKinds = new Set(stored.filter((o) => o.metadata.namespace).map((o) => o.kind));
    const namespaced = (o: Obj): boolean => namespacedKinds.has(o.kind);
    expect(stored.map((o) => ref(o, namespaced)).sort()).toEqual(rendered.map((o) => ref(o, namespaced)).sort());
    return stored;
  };

  /**
   * Runs the rendered operator Deployment's pods as local processes: `spec.replicas` of them,
   * each with the container's args and env. What stays cluster-bound is replaced: the bundled
   * Redis Service by the private redis-server, the pod's ports by free ones, the mounted
   * ConfigMaps by their rendered data in files, in-cluster credentials by the double's
   * kubeconfig. Resolves once every replica answers its readiness probe.
   */
  const runOperatorPods = async (rendered: Obj[], revision: string): Promise<Replica[]> => {
    const deploy = one(rendered, 'Deployment', `${RELEASE}-operator`);
    const pod = deploy.spec.template.spec;
    const container = pod.containers.find((c: any) => c.name === 'operator');
    const ports = Object.fromEntries((container.ports as Array<{ name: string; containerPort: number }>).map((p) => [p.name, p.containerPort]));
    const args = container.args as string[];
    expect(args[0]).toBe('operator');
    expect(args).toContain(`--admin=${ports.admin}`);

    const mounts = new Map<string, string>();
    for (const m of (container.volumeMounts ?? []) as Array<{ name: string; mountPath: string }>) {
      const vol = (pod.volumes as Array<{ name: string; configMap?: { name: string } }>).find((v) => v.name === m.name);
      if (!vol?.configMap) continue;
      const dir = join(tmp, revision, m.mountPath);
      mkdirSync(dir, { recursive: true });
      for (const [file, text] of Object.entries(one(rendered, 'ConfigMap', vol.configMap.name).data as Record<string, string>)) writeFileSync(join(dir, file), text);
      mounts.set(m.mountPath, dir);
    }
    const local = (value: string): string => {
      for (const [mountPath, dir] of mounts) if (value.startsWith(`${mountPath}/`)) return join(dir, value.slice(mountPath.length + 1));
      return value;
    };

    const start = async (podName: string): Promise<Replica> => {
      const adminPort = await freePort();
      const webhookPort = await freePort();
      const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', KUBECONFIG: kubeconfig };
      type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } };
      for (const e of container.env as EnvVar[]) {
        const secretRef = e.valueFrom?.secretKeyRef;
        if (e.value !== undefined) env[e.name] = local(e.value);
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NS;
        else if (secretRef) env[e.name] = Buffer.from(one(rendered, 'Secret', secretRef.name).data[secretRef.key] as string, 'base64').toString('utf8');
        else throw new Error(`env ${e.name}: no local value for ${JSON.stringify(e.valueFrom)}`);
      }
      // The operator's own user on the bundled Redis, from the chart's Secret; sidecars get their workload's user.
      expect(env.SPILLWAY_REDIS).toMatch(new RegExp(`^redis://spillway-operator:[A-Za-z0-9]{40}@${RELEASE}-redis\\.${NS}\\.svc:6379$`));
      expect(env.SPILLWAY_WORKLOAD_REDIS_URL).toBe(`redis://${RELEASE}-redis.${NS}.svc:6379`);
      env.SPILLWAY_REDIS = redis.url;
      env.SPILLWAY_WORKLOAD_REDIS_URL = redis.url;
      if (env.SPILLWAY_WEBHOOK_PORT !== undefined) {
        expect(env.SPILLWAY_WEBHOOK_PORT).toBe(String(ports.webhook));
        env.SPILLWAY_WEBHOOK_PORT = String(webhookPort);
      }
      const r = new Replica(podName, adminPort, webhookPort, args.map((a) => (a === `--admin=${ports.admin}` ? `--admin=${adminPort}` : a)), env);
      started.push(r);
      return r;
    };
    const replicas: Replica[] = [];
    for (let i = 0; i < deploy.spec.replicas; i++) replicas.push(await start(`${RELEASE}-operator-${revision}-${i}`));

    const probe = container.readinessProbe.httpGet as { path: string; port: string };
    expect(probe.port).toBe('admin');
    for (const r of replicas) {
      await waitFor(`${r.podName} ${probe.path}`, async () => {
        if (r.exited) throw new Error(`${r.podName} exited:\n${r.log}`);
        return (await fetch(`http://127.0.0.1:${r.adminPort}${probe.path}`)).status === 200;
      }, 60_000);
    }
    return replicas;
  };

  /** The Lease the rendered args name, and the replica holding it. */
  const leader = async (rendered: Obj[], replicas: Replica[]): Promise<Replica> => {
    const args = one(rendered, 'Deployment', `${RELEASE}-operator`).spec.template.spec.containers[0].args as string[];
    expect(args).toContain('--leader-elect');
    const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    const lease = ['get', 'lease', flag('lease-name') ?? '', '-n', flag('lease-namespace') ?? NS, '-o', 'jsonpath={.spec.holderIdentity}'];
    return waitFor('a replica holding the Lease', async () => {
      const holder = (await mustKubectl(lease)).trim();
      return replicas.find((r) => holder.startsWith(`${r.podName}_`));
    }, 40_000);
  };

  const programmed = async (): Promise<void> => {
    await waitFor('Programmed=True', async () => {
      const tp = JSON.parse(await mustKubectl(['get', 'tp', 'chat', '-n', 'talk', '-o', 'json'])) as { status?: { conditions?: Array<{ type: string; status: string }> } };
      return tp.status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True');
    }, 30_000);
  };

  /**
   * Every replica of the current revision serves the webhook over HTTPS as the API server would
   * call it (the rendered Service's port, the server name of the Service, trusting only the CA
   * in the stored caBundle) and injects the rendered injection defaults. Returns the CA.
   */
  const webhookServed = async (): Promise<{ ca: string; sidecars: Array<Record<string, any>> }> => {
    const config = one(install, 'MutatingWebhookConfiguration');
    expect(config.webhooks[0].failurePolicy).toBe('Ignore');
    const svc = config.webhooks[0].clientConfig.service as { name: string; namespace: string; path: string; port: number };
    // The Service the configuration names forwards to the container's webhook port.
    const service = one(install, 'Service', svc.name);
    const targetPort = (service.spec.ports as Array<{ port: number; targetPort: number | string }>).find((p) => p.port === svc.port)?.targetPort;
    const container = one(install, 'Deployment', `${RELEASE}-operator`).spec.template.spec.containers[0];
    const webhookPort = (container.ports as Array<{ name: string; containerPort: number }>).find((p) => p.name === 'webhook');
    expect([webhookPort?.name, webhookPort?.containerPort]).toContain(targetPort);

    const ca = await waitFor('caBundle patched', async () => {
      const stored = JSON.parse(await mustKubectl(['get', 'mutatingwebhookconfiguration', config.metadata.name, '-o', 'json'])) as Obj;
      const bundles = (stored.webhooks as Array<{ clientConfig: { caBundle?: string } }>).map((w) => w.clientConfig.caBundle);
      return bundles.every((c) => c) ? Buffer.from(bundles[0] as string, 'base64').toString('utf8') : undefined;
    }, 30_000);
    expect(ca).toMatch(/BEGIN CERTIFICATE/);

    const servername = `${svc.name}.${svc.namespace}.svc`;
    const pod = {
      metadata: { generateName: 'chat-abc12-', labels: { app: 'chat', 'spillway.io/inject': 'true', 'pod-template-hash': 'abc12' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'chat-abc12', controller: true }] },
      spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', ports: [{ name: 'http', containerPort: 8080 }] }] },
    };
    // The sidecar image comes from the rendered injection defaults; its Redis URL from its workload's Secret.
    const defaults = JSON.parse(Object.values(one(install, 'ConfigMap').data as Record<string, string>)[0]) as { image: string };
    expect(pods).toHaveLength(2);
    const sidecars: Array<Record<string, any>> = [];
    for (const r of pods) {
      // A replica may still be loading the shared certificate: retry until it verifies.
      await waitFor(`${r.podName} webhook /healthz`, async () => (await callWebhook(r.webhookPort, ca, servername, 'GET', '/healthz')).status === 200, 30_000);
      const reply = await callWebhook(r.webhookPort, ca, servername, 'POST', svc.path, {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: r.podName, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'talk', operation: 'CREATE', object: pod },
      });
      expect(reply.status).toBe(200);
      expect(reply.body.response).toMatchObject({ uid: r.podName, allowed: true, patchType: 'JSONPatch' });
      const patch = JSON.parse(Buffer.from(reply.body.response.patch as string, 'base64').toString('utf8')) as Array<{ op: string; path: string; value?: any }>;
      const sidecar = patch.flatMap((op) => (Array.isArray(op.value) ? op.value : [op.value])).find((c: any) => c?.name === 'spillway');
      expect(sidecar).toMatchObject({ image: defaults.image, restartPolicy: 'Always' });
      expect(sidecar?.env).toContainEqual({ name: 'SPILLWAY_REDIS', valueFrom: { secretKeyRef: { name: 'spillway-redis-chat', key: 'url', optional: true } } });
      sidecars.push(sidecar);
    }
    return { ca, sidecars };
  };

  /** The value of one env var of an injected sidecar. */
  const sidecarEnv = (sidecar: Record<string, any>, name: string): unknown => (sidecar.env as Array<{ name: string; value?: string }>).find((e) => e.name === name)?.value;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'spillway-helm-install-'));
    await ensureBuilt();
    redis = await RedisServer.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    client.on('error', () => {});
    // No CRDs at start: the chart's own CRD has to register trafficpolicies.
    double = await startKubeDouble({ port: 0 });
    kubeconfig = join(tmp, 'kubeconfig');
    double.writeKubeconfig(kubeconfig);
    helmKubeconfig = join(tmp, 'kubeconfig-helm');
    double.writeKubeconfig(helmKubeconfig);
    const set = await run('kubectl', ['--kubeconfig', helmKubeconfig, 'config', 'set-context', '--current', `--namespace=${NS}`]);
    if (set.code !== 0) throw new Error(`kubectl config set-context failed: ${set.stderr}`);
    // helm install --create-namespace
    await mustKubectl(['create', 'namespace', NS]);
  }, 120_000);

  afterAll(async () => {
    for (const r of started) await r.stop();
    if (process.env.SPILLWAY_E2E_LOGS) for (const r of started) process.stderr.write(`--- ${r.podName}\n${r.log}`);
    client?.disconnect();
    await redis?.stop();
    await double?.close();
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('every object of the default install is accepted, the sidecar-injection webhook included', async () => {
    const { yaml, objects } = render();
    install = objects;
    expect(objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining([
        'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'PodDisruptionBudget', 'Service', 'Deployment',
        'MutatingWebhookConfiguration', 'ConfigMap',
      ]),
    );
    // The operator's own CA by default: nothing from cert-manager.
    expect(objects.filter((o) => o.kind === 'Certificate' || o.kind === 'Issuer')).toEqual([]);
    await applyAndCheck(yaml, objects);
    // The CRD registered its resource: `kubectl get tp` works.
    expect((await kubectl(['get', 'tp', '-A'])).code).toBe(0);
  }, 90_000);

  it("the default install's operator pods: ready, one leads on the named Lease, the example policy is programmed", async () => {
    pods = await runOperatorPods(install, 'r1');
    expect(pods).toHaveLength(2);
    await leader(install, pods);

    await mustKubectl(['create', 'namespace', 'talk']);
    await mustKubectl(['apply', '-f', '-'], exampleWorkload);
    await mustKubectl(['apply', '-f', 'examples/chat-policy.yaml']);
    const raw = await waitFor('spillway:config:talk/chat in Redis', () => client.get('spillway:config:talk/chat'), 30_000);
    expect(JSON.parse(raw)).toMatchObject({ policy: 'talk/chat', readyReplicas: 2 });
    await programmed();
    // The workload's own Redis user (redis.workloadUsers: on with the bundled Redis), in a Secret in its namespace.
    const secretUrl = Buffer.from(await mustKubectl(['get', 'secret', 'spillway-redis-chat', '-n', 'talk', '-o', 'jsonpath={.data.url}']), 'base64').toString();
    expect(secretUrl).toMatch(/^redis:\/\/spillway\.talk\.chat:[A-Za-z0-9_-]{43}@127\.0\.0\.1:\d+$/);
    expect(await client.call('ACL', 'GETUSER', 'spillway.talk.chat')).not.toBeNull();
    // What a person reads: the printer columns (NAME TARGET ACCEPTED PROGRAMMED ...).
    const table = await mustKubectl(['get', 'tp', '-n', 'talk']);
    expect(table.split('\n')[1]).toMatch(/^chat\s+chat\s+True\s+True\s+\d+/);
  }, 180_000);

  it("the default install's replicas serve the webhook over HTTPS with the CA they patched into the rendered configuration", async () => {
    const { ca, sidecars } = await webhookServed();
    firstCa = ca;
    // The chart's readiness grace for pods whose workload has no TrafficPolicy yet.
    for (const s of sidecars) expect(sidecarEnv(s, 'SPILLWAY_READY_WITHOUT_CONFIG_AFTER')).toBe('60');
  }, 120_000);

  it('an upgrade of an injection default rolls the operator: the new pods take over, keep the CA and inject the new default', async () => {
    const before = one(install, 'Deployment', `${RELEASE}-operator`).spec.template.metadata.annotations as Record<string, string>;
    const { yaml, objects } = render(['--set', 'sidecar.readyWithoutConfigAfterSeconds=30']);
    install = objects;
    // The injection ConfigMap's checksum is in the pod template: the change is a rollout.
    expect(one(objects, 'Deployment', `${RELEASE}-operator`).spec.template.metadata.annotations).not.toEqual(before);
    await applyAndCheck(yaml, objects);

    // The rollout: old pods stop (handing the Lease back), new ones start from the new Deployment.
    for (const r of pods) await r.stop('SIGTERM');
    pods = await runOperatorPods(install, 'r2');
    await leader(install, pods);
    // The new leader reconciles: a spec change is published and reported by this revision.
    const version = (JSON.parse((await client.get('spillway:config:talk/chat')) ?? '{}') as { version?: number }).version ?? 0;
    await mustKubectl(['patch', 'tp', 'chat', '-n', 'talk', '--type=json', '-p', '[{"op":"replace","path":"/spec/classes/0/concurrency/limit","value":30}]']);
    const generation = Number(await mustKubectl(['get', 'tp', 'chat', '-n', 'talk', '-o', 'jsonpath={.metadata.generation}']));
    const doc = await waitFor('the changed config in Redis', async () => {
      const d = JSON.parse((await client.get('spillway:config:talk/chat')) ?? '{}') as { version?: number; classes?: Array<{ name: string; limit: number }> };
      return (d.version ?? 0) > version ? d : undefined;
    }, 30_000);
    expect(doc.classes?.find((c) => c.name === 'background-login')?.limit).toBe(15); // 30 over 2 replicas
    await waitFor('status of the new generation', async () => {
      const tp = JSON.parse(await mustKubectl(['get', 'tp', 'chat', '-n', 'talk', '-o', 'json'])) as { status?: { observedGeneration?: number; configVersion?: number } };
      return tp.status?.observedGeneration === generation && tp.status.configVersion === doc.version;
    }, 30_000);
    await programmed();

    // Both new pods serve the webhook with the certificate of the shared Secret: the CA in the
    // caBundle is the one the first revision made, and the new injection default is in force.
    const { ca, sidecars } = await webhookServed();
    expect(ca).toBe(firstCa);
    for (const s of sidecars) expect(sidecarEnv(s, 'SPILLWAY_READY_WITHOUT_CONFIG_AFTER')).toBe('30');
  }, 240_000);

  it('the autoscaling HPA (autoscaling/v2) is accepted in the workload namespace', async () => {
    const { objects } = render(['-f', 'charts/spillway/ci/autoscaling-values.yaml', '--show-only', 'templates/autoscaling.yaml']);
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    const stored = await applyAndCheck(JSON.stringify(hpa), [hpa]);
    expect(stored[0].metadata.namespace).toBe('talk');
    expect(stored[0].spec).toEqual(hpa.spec);
  }, 60_000);
});

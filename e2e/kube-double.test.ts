/**
 * The API-server double driven by the real kubectl and by @kubernetes/client-node, the two
 * clients that will talk to it: if these pass, `kubectl apply -f examples/` and the operator's
 * informers work against it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { startKubeDouble, type KubeDouble } from './kube-double/server.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const examplePolicy = join(root, 'examples', 'chat-policy.yaml');

let double: KubeDouble;
let dir: string;
let kubeconfig: string;

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], { timeout: 30_000 });
  return stdout;
}

/** Runs kubectl expecting it to fail; returns what it printed on stderr. */
async function kubectlFails(...args: string[]): Promise<string> {
  try {
    await kubectl(...args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`kubectl ${args.join(' ')} succeeded`);
}

function writeYaml(name: string, doc: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
  return file;
}

type Policy = { metadata: Record<string, unknown>; spec: { classes: Array<Record<string, unknown>> } & Record<string, unknown> };
const example = (): Policy => parse(readFileSync(examplePolicy, 'utf8')) as Policy;

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'chat', namespace: 'talk', labels: { app: 'chat' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'chat' } },
    template: { metadata: { labels: { app: 'chat' } }, spec: { containers: [{ name: 'app', image: 'chat:1', ports: [{ containerPort: 8080 }] }] } },
  },
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-double-'));
  kubeconfig = join(dir, 'kubeconfig');
  // No CRDs preloaded: the test applies the CRD as a user would.
  double = await startKubeDouble({ port: 0, controllers: false, bookmarkSeconds: 1 });
  double.writeKubeconfig(kubeconfig);
});

afterAll(async () => {
  await double?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kube double with the real kubectl', () => {
  it('serves discovery and version', async () => {
    expect(await kubectl('version', '-o', 'json')).toContain('"minor": "32"');
    const resources = await kubectl('api-resources', '--no-headers');
    for (const r of ['deployments', 'statefulsets', 'leases', 'events', 'namespaces', 'customresourcedefinitions']) expect(resources).toContain(r);
  });

  it('registers a CRD applied with kubectl, then serves its resource', async () => {
    expect(await kubectl('apply', '-f', join(root, 'crds', 'trafficpolicies.spillway.io.yaml'))).toContain('customresourcedefinition.apiextensions.k8s.io/trafficpolicies.spillway.io created');
    await kubectl('wait', '--for=condition=Established', 'crd/trafficpolicies.spillway.io', '--timeout=10s');
    expect(await kubectl('api-resources', '--api-group=spillway.io', '--no-headers')).toMatch(/trafficpolicies\s+tp\s+spillway.io\/v1alpha1\s+true\s+TrafficPolicy/);
  });

  it('applies the example policy (namespace first) and prints the printer columns', async () => {
    expect(await kubectlFails('apply', '-f', examplePolicy)).toContain('namespaces "talk" not found');
    expect(await kubectl('create', 'namespace', 'talk')).toContain('namespace/talk created');
    expect(await kubectl('apply', '-f', examplePolicy)).toContain('trafficpolicy.spillway.io/chat created');
    const table = await kubectl('-n', 'talk', 'get', 'tp');
    expect(table).toMatch(/^NAME\s+TARGET\s+ACCEPTED\s+PROGRAMMED\s+VERSION\s+REPLICAS\s+AGE/);
    expect(table).toMatch(/\nchat\s+chat\s+/);
    // Re-applying the unchanged file changes nothing on the server (kubectl may still send the
    // atomic lists, which the schema defaults back to what is stored).
    const rv = (): Promise<string> => kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'jsonpath={.metadata.resourceVersion}');
    const before = await rv();
    await kubectl('apply', '-f', examplePolicy);
    expect(await rv()).toBe(before);
    // Defaults were applied by the schema, as the real API server does.
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'jsonpath={.spec.classes[0].queue.size} {.spec.defaultClass.rejectStatus} {.metadata.generation}')).toBe('0 503 1');
  });

  it('bumps generation on spec edits only; the status subresource updates status only', async () => {
    const gen = (): Promise<string> => kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'jsonpath={.metadata.generation}');
    const edited = example();
    edited.spec.classes[0].concurrency = { limit: 80, scope: 'Cluster' };
    await kubectl('apply', '-f', writeYaml('edited.yaml', edited));
    expect(await gen()).toBe('2');
    await kubectl('-n', 'talk', 'label', 'tp', 'chat', 'team=chat');
    expect(await gen()).toBe('2');

    const status = { status: { observedGeneration: 2, configVersion: 7, readyReplicas: 4, conditions: [{ type: 'Accepted', status: 'True', reason: 'Valid', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }, { type: 'Programmed', status: 'False', reason: 'RedisDown', message: 'no redis', lastTransitionTime: '2026-01-01T00:00:00Z' }] } };
    await kubectl('-n', 'talk', 'patch', 'tp', 'chat', '--subresource=status', '--type=merge', '-p', JSON.stringify({ ...status, spec: { warmupSeconds: 99 } }));
    expect(await gen()).toBe('2');
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'jsonpath={.spec.warmupSeconds}')).toBe('0');
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'chat', '--no-headers')).toMatch(/^chat\s+chat\s+True\s+False\s+7\s+4\s+\d+s/);
    // The main resource ignores status.
    await kubectl('-n', 'talk', 'patch', 'tp', 'chat', '--type=merge', '-p', '{"status":{"configVersion":1}}');
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'jsonpath={.status.configVersion}')).toBe('7');
  });

  it('refuses invalid policies naming the field and the reason', async () => {
    const zeroLimit = example();
    zeroLimit.metadata.name = 'bad';
    (zeroLimit.spec.classes[0].concurrency as Record<string, unknown>).limit = 0;
    const err = await kubectlFails('apply', '-f', writeYaml('bad.yaml', zeroLimit));
    expect(err).toContain('The TrafficPolicy "bad" is invalid');
    expect(err).toContain('spec.classes[0].concurrency.limit: Invalid value: 0');
    expect(err).toContain('should be greater than or equal to 1');

    const duplicate = example();
    duplicate.metadata.name = 'dup';
    duplicate.spec.classes[1].name = duplicate.spec.classes[0].name;
    expect(await kubectlFails('apply', '-f', writeYaml('dup.yaml', duplicate))).toContain('spec.classes: Invalid value: "array": class names must be unique');

    const unknownField = example();
    unknownField.metadata.name = 'typo';
    unknownField.spec.clases = [];
    expect(await kubectlFails('apply', '-f', writeYaml('typo.yaml', unknownField))).toContain('unknown field "spec.clases"');
    expect(await kubectlFails('-n', 'talk', 'get', 'tp', 'bad')).toContain('NotFound');
  });

  it('refuses an update from a stale resourceVersion with 409', async () => {
    const current = parse(await kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'yaml')) as Policy;
    await kubectl('-n', 'talk', 'annotate', 'tp', 'chat', 'touched=yes');
    expect(await kubectlFails('replace', '-f', writeYaml('stale.yaml', current))).toContain('the object has been modified');
  });

  it('creates a Deployment, scales it, and lets a test set its status', async () => {
    expect(await kubectl('apply', '-f', writeYaml('deploy.yaml', deployment))).toContain('deployment.apps/chat created');
    expect(await kubectl('-n', 'talk', 'scale', 'deployment', 'chat', '--replicas=4')).toContain('deployment.apps/chat scaled');
    expect(await kubectl('-n', 'talk', 'get', 'deployment', 'chat', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}')).toBe('4 2');
    expect(await kubectl('-n', 'talk', 'get', '--raw', '/apis/apps/v1/namespaces/talk/deployments/chat/scale')).toContain('"selector":"app=chat"');
    await kubectl('-n', 'talk', 'patch', 'deployment', 'chat', '--subresource=status', '--type=merge', '-p', '{"status":{"replicas":4,"readyReplicas":3}}');
    expect(await kubectl('-n', 'talk', 'get', 'deployment', 'chat', '--no-headers')).toMatch(/^chat\s+3\/4\s+/);
    // A client-side re-apply of a changed template merges the container list by name.
    const v2 = structuredClone(deployment);
    v2.spec.template.spec.containers[0].image = 'chat:2';
    await kubectl('apply', '-f', writeYaml('deploy.yaml', v2));
    expect(await kubectl('-n', 'talk', 'get', 'deployment', 'chat', '-o', 'jsonpath={.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].ports[0].containerPort}')).toBe('chat:2 8080');
  });

  it('holds a deletion while finalizers remain, then removes the object', async () => {
    await kubectl('-n', 'talk', 'patch', 'tp', 'chat', '--type=merge', '-p', '{"metadata":{"finalizers":["spillway.io/cleanup"]}}');
    await kubectl('-n', 'talk', 'delete', 'tp', 'chat', '--wait=false');
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'chat', '-o', 'jsonpath={.metadata.deletionTimestamp}')).toMatch(/^\d{4}-\d\d-\d\dT/);
    await kubectl('-n', 'talk', 'patch', 'tp', 'chat', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]');
    expect(await kubectlFails('-n', 'talk', 'get', 'tp', 'chat')).toContain('trafficpolicies.spillway.io "chat" not found');
  });

  it('server-side apply: field managers, conflicts, force', async () => {
    const policy = example();
    policy.metadata.name = 'ssa';
    policy.spec.warmupSeconds = 3;
    expect(await kubectl('apply', '--server-side', '--field-manager=team-a', '-f', writeYaml('ssa.yaml', policy))).toContain('serverside-applied');
    const changed = example();
    changed.metadata.name = 'ssa';
    (changed.spec.classes[0].concurrency as Record<string, unknown>).limit = 5;
    const conflict = await kubectlFails('apply', '--server-side', '--field-manager=team-b', '-f', writeYaml('ssa-b.yaml', changed));
    expect(conflict).toContain('conflict with "team-a"');
    expect(conflict).toContain('.spec.classes');
    await kubectl('apply', '--server-side', '--field-manager=team-b', '--force-conflicts', '-f', writeYaml('ssa-b.yaml', changed));
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'ssa', '-o', 'jsonpath={.spec.classes[0].concurrency.limit}')).toBe('5');
    const managers = await kubectl('-n', 'talk', 'get', 'tp', 'ssa', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager}');
    expect(managers.split(' ').sort()).toEqual(['team-a', 'team-b']);
    // team-a agrees on the classes (now shared) and stops applying warmupSeconds, which only it
    // owned: the field is removed, and the schema default comes back.
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'ssa', '-o', 'jsonpath={.spec.warmupSeconds}')).toBe('3');
    await kubectl('apply', '--server-side', '--field-manager=team-a', '-f', writeYaml('ssa.yaml', changed));
    expect(await kubectl('-n', 'talk', 'get', 'tp', 'ssa', '-o', 'jsonpath={.spec.warmupSeconds}')).toBe('0');
  });

  it('answers a watch from an expired resourceVersion with 410 Gone', async () => {
    const rv = JSON.parse(await kubectl('get', '--raw', '/apis/spillway.io/v1alpha1/namespaces/talk/trafficpolicies')).metadata.resourceVersion as string;
    await kubectl('-n', 'talk', 'annotate', 'tp', 'ssa', 'before=compaction');
    double.compact();
    const out = await kubectl('get', '--raw', `/apis/spillway.io/v1alpha1/namespaces/talk/trafficpolicies?watch=1&resourceVersion=${rv}&timeoutSeconds=10`);
    const event = JSON.parse(out.trim().split('\n')[0]) as { type: string; object: { code: number; reason: string } };
    expect(event).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });

  it('stores RBAC, PodDisruptionBudgets and HPAs as given (what a Helm chart applies), without semantics', async () => {
    const docs = [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'op', namespace: 'talk' }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'leases', namespace: 'talk' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'leases', namespace: 'talk' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' }, subjects: [{ kind: 'ServiceAccount', name: 'op', namespace: 'talk' }] },
      { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'op', namespace: 'talk' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'op' } } } },
      { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'chat', namespace: 'talk' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat' }, minReplicas: 2, maxReplicas: 4, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }] } },
    ];
    const file = writeYaml('chart-objects.yaml', docs.map((d) => stringify(d)).join('---\n'));
    expect((await kubectl('apply', '-f', file)).trim().split('\n')).toHaveLength(docs.length);
    const stored = JSON.parse(await kubectl('get', '-f', file, '-o', 'json')) as { items: Array<Record<string, unknown>> };
    for (const [i, d] of docs.entries()) {
      const { metadata, ...rest } = d;
      expect(stored.items[i]).toMatchObject({ ...rest, metadata: { name: metadata.name } });
    }
    expect(await kubectl('-n', 'talk', 'get', 'pdb,hpa', '-o', 'name')).toBe('poddisruptionbudget.policy/op\nhorizontalpodautoscaler.autoscaling/chat\n');
    await kubectl('delete', '-f', file);
    expect(await kubectl('-n', 'talk', 'get', 'roles,rolebindings', '-o', 'name')).toBe('');
  });
});

describe('kube double over plain HTTP', () => {
  it('server-side applies the status subresource, dropping fields the manager stops applying', async () => {
    const url = `${double.url}/apis/spillway.io/v1alpha1/namespaces/talk/trafficpolicies/ssa/status?fieldManager=operator&force=true`;
    const applyStatus = async (status: object) => {
      const res = await fetch(url, { method: 'PATCH', headers: { 'content-type': 'application/apply-patch+yaml' }, body: JSON.stringify({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'ssa' }, status }) });
      expect(res.status).toBe(200);
      return (await res.json()) as { status: object; metadata: { generation: number; managedFields: Array<{ manager: string; subresource?: string }> } };
    };
    const first = await applyStatus({ configVersion: 3, readyReplicas: 2 });
    expect(first.metadata.managedFields).toEqual(expect.arrayContaining([expect.objectContaining({ manager: 'operator', subresource: 'status' })]));
    const second = await applyStatus({ configVersion: 4 });
    expect(second.status).toEqual({ configVersion: 4 });
    expect(second.metadata.generation).toBe(first.metadata.generation);
  });


  /** Reads a watch stream until `done` holds for the events so far (or 10 s pass); then hangs up. */
  async function watchUntil(path: string, done: (events: Array<{ type: string; object: { metadata: { name?: string; resourceVersion: string } } }>) => boolean, during?: () => Promise<void>) {
    const abort = new AbortController();
    const res = await fetch(`${double.url}${path}`, { signal: abort.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const events = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; object: { metadata: { name?: string; resourceVersion: string } } });
    const acting = during?.();
    const deadline = Date.now() + 10_000;
    try {
      while (!done(events()) && Date.now() < deadline) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        text += decoder.decode(value);
      }
      await acting;
    } finally {
      abort.abort();
    }
    return events();
  }

  it('sends BOOKMARK events when asked to', async () => {
    const events = await watchUntil('/apis/coordination.k8s.io/v1/namespaces/talk/leases?watch=1&allowWatchBookmarks=true&resourceVersion=0', (e) => e.some((x) => x.type === 'BOOKMARK'));
    const bookmark = events.find((x) => x.type === 'BOOKMARK')!;
    expect(Number(bookmark.object.metadata.resourceVersion)).toBeGreaterThan(0);
  });

  it('a label-selected watch sees objects enter and leave the selection', async () => {
    const events = await watchUntil(
      '/apis/spillway.io/v1alpha1/namespaces/talk/trafficpolicies?watch=1&labelSelector=tier%3Dgold',
      (e) => e.length >= 2,
      async () => {
        await kubectl('-n', 'talk', 'label', 'tp', 'ssa', 'tier=gold');
        await kubectl('-n', 'talk', 'label', 'tp', 'ssa', 'tier-');
      },
    );
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED ssa', 'DELETED ssa']);
  });
});

describe('kube double with @kubernetes/client-node', () => {
  it('lists, watches, writes status, reads and scales deployments', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const tp = { group: 'spillway.io', version: 'v1alpha1', namespace: 'talk', plural: 'trafficpolicies' };

    const list = (await custom.listNamespacedCustomObject(tp)) as { metadata: { resourceVersion: string } };
    const seen: string[] = [];
    let deleted!: () => void;
    const gone = new Promise<void>((resolve) => (deleted = resolve));
    const watch = await new k8s.Watch(kc).watch(
      '/apis/spillway.io/v1alpha1/namespaces/talk/trafficpolicies',
      { resourceVersion: list.metadata.resourceVersion },
      (type: string, obj: { metadata: { name: string } }) => {
        if (obj.metadata.name !== 'cn') return;
        seen.push(type);
        if (type === 'DELETED') deleted();
      },
      () => undefined,
    );
    try {
    const body = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'cn' }, spec: { targetRef: { name: 'chat' } } };
    const created = (await custom.createNamespacedCustomObject({ ...tp, body })) as { metadata: { generation: number; resourceVersion: string }; spec: { defaultClass: { concurrency: { limit: number } } } };
    expect(created.metadata.generation).toBe(1);
    expect(created.spec.defaultClass.concurrency.limit).toBe(100);
    const patched = (await custom.patchNamespacedCustomObjectStatus({ ...tp, name: 'cn', body: { status: { configVersion: 5 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))) as { status: { configVersion: number } };
    expect(patched.status.configVersion).toBe(5);
    await expect(custom.replaceNamespacedCustomObject({ ...tp, name: 'cn', body: { ...body, metadata: { name: 'cn', resourceVersion: created.metadata.resourceVersion } } })).rejects.toMatchObject({ code: 409 });

    expect(double.setReadyReplicas('talk', 'chat', 2).status).toMatchObject({ replicas: 4, readyReplicas: 2 });
    const d = await apps.readNamespacedDeployment({ namespace: 'talk', name: 'chat' });
    expect(d.status?.readyReplicas).toBe(2);
    const scale = await apps.patchNamespacedDeploymentScale({ namespace: 'talk', name: 'chat', body: { spec: { replicas: 6 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    expect(scale.spec?.replicas).toBe(6);

    const lease = await coordination.createNamespacedLease({ namespace: 'talk', body: { metadata: { name: 'spillway-operator' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    await expect(coordination.replaceNamespacedLease({ namespace: 'talk', name: 'spillway-operator', body: { ...lease, spec: { holderIdentity: 'b' } } })).resolves.toMatchObject({ spec: { holderIdentity: 'b' } });
    await expect(coordination.replaceNamespacedLease({ namespace: 'talk', name: 'spillway-operator', body: { ...lease, spec: { holderIdentity: 'c' } } })).rejects.toMatchObject({ code: 409 });

    await custom.deleteNamespacedCustomObject({ ...tp, name: 'cn' });
    await gone;
    expect(seen).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    } finally {
      watch.abort();
    }
  });
});

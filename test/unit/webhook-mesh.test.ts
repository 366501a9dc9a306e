import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { jsonPatch } from '../../e2e/kube-double/patch.js';
import { parseInjectionSettings, review, type InjectionSettings } from '../../operator/webhook.js';
import { withPort } from '../../operator/webhook-mesh.js';

// Pods as Istio's and Linkerd's injectors write them (test/unit/fixtures/meshes/*.yaml name the
// published injector outputs they are built from), then Spillway's webhook, in both orders.

const settings: InjectionSettings = parseInjectionSettings({
  image: 'ghcr.io/spillway-io/spillway:0.1.0',
  redisUrl: 'redis://redis.spillway-system.svc:6379',
  readyWithoutConfigAfterSeconds: 60,
});

type Json = Record<string, any>;
type Fixture = 'istio-native' | 'istio-classic' | 'linkerd-native' | 'linkerd-classic';

const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'meshes');
const meshed = (name: Fixture): Json => parse(readFileSync(join(fixtureDir, `${name}.yaml`), 'utf8')) as Json;

function request(object: unknown): Json {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'req-1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: (object as Json).metadata.namespace, operation: 'CREATE', object },
  };
}

/** Spillway's webhook on `pod`: the pod after its patch (unchanged without one), and the response. */
function spillway(pod: Json, s: InjectionSettings = settings): { pod: Json; response: Json } {
  const r = review(request(pod), s);
  if (r.status !== 200) throw new Error(`status ${r.status}`);
  const response = r.body.response as Json;
  if (!response.patch) return { pod, response };
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
  expect(ops).toEqual(r.patch);
  return { pod: jsonPatch(pod, ops) as Json, response };
}

const MESH_CONTAINERS = ['istio-init', 'istio-validation', 'istio-proxy', 'linkerd-init', 'linkerd-network-validator', 'linkerd-proxy'];
const isMesh = (c: Json): boolean => MESH_CONTAINERS.includes(c.name);
const names = (list: Json[] | undefined): string[] => (list ?? []).map((c) => c.name);
const initNamed = (pod: Json, name: string): Json => pod.spec.initContainers.find((c: Json) => c.name === name);
const flagValue = (args: string[], flag: string): string => args[args.indexOf(flag) + 1];

/** The pod as its owner wrote it, before the mesh injected: the fixture without the mesh's parts. */
function unmeshed(name: Fixture): Json {
  const pod = meshed(name);
  const { annotations: _mesh, ...metadata } = pod.metadata;
  return { ...pod, metadata, spec: { containers: pod.spec.containers.filter((c: Json) => !isMesh(c)) } };
}

/**
 * The mesh's injector running after Spillway's, placing its containers as its source does:
 * Istio's reorderPod (pkg/kube/inject/webhook.go) puts istio-init then istio-proxy first among
 * init containers with native sidecars, and istio-init last (proxy last among containers)
 * without; Linkerd's injector adds linkerd-init at initContainers/0 and the proxy at
 * initContainers/1 (native) or containers/0 (linkerd-await). Istio also rewrites the HTTP
 * probes of every container but istio-proxy, init containers included, to its agent's status
 * port (pkg/kube/inject/app_probe.go, patchRewriteProbe: path /app-health/<container>/<kind>,
 * port 15020, the rest of the probe kept). The containers, args and annotations are the
 * fixture's: rendered without Spillway's annotations, as the first pass sets none on a pod no
 * mesh has touched yet.
 */
function meshInjects(pod: Json, name: Fixture): Json {
  const mesh = meshed(name);
  const meshInit = mesh.spec.initContainers.filter(isMesh);
  const meshMain = mesh.spec.containers.filter(isMesh);
  const out = structuredClone(pod);
  const init = out.spec.initContainers ?? [];
  const main = out.spec.containers;
  out.metadata.annotations = { ...mesh.metadata.annotations, ...pod.metadata.annotations };
  out.spec.volumes = [...(out.spec.volumes ?? []), ...mesh.spec.volumes];
  if (name === 'istio-classic') {
    out.spec.initContainers = [...init, ...meshInit];
    out.spec.containers = [...main, ...meshMain];
  } else {
    out.spec.initContainers = [...meshInit, ...init];
    out.spec.containers = [...meshMain, ...main];
  }
  if (name.startsWith('istio')) {
    for (const c of [...out.spec.initContainers, ...out.spec.containers].filter((c: Json) => c.name !== 'istio-proxy')) {
      for (const [key, kind] of [['readinessProbe', 'readyz'], ['livenessProbe', 'livez'], ['startupProbe', 'startupz']]) {
        if (c[key]?.httpGet) c[key] = { ...c[key], httpGet: { ...c[key].httpGet, path: `/app-health/${c.name}/${kind}`, port: 15020 } };
      }
    }
  }
  return out;
}

describe('sidecar injection beside a mesh', () => {
  it('Istio, native sidecars: after istio-init and istio-proxy, admin port out of capture', () => {
    const before = meshed('istio-native');
    const { pod, response } = spillway(before);
    expect(response.warnings).toBeUndefined();
    expect(names(pod.spec.initContainers)).toEqual(['istio-init', 'istio-proxy', 'spillway']);
    expect(names(pod.spec.containers)).toEqual(['hello']);
    expect(pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts']).toBe('17090');
    // The iptables rules were rendered before Spillway came: the admin port joins their exclusions.
    expect(flagValue(initNamed(pod, 'istio-init').args, '-d')).toBe('15090,15021,15020,17090');
    expect(flagValue(initNamed(pod, 'istio-init').args, '-b')).toBe('*');
    // The mesh's proxy and the mesh's other annotations are untouched.
    expect(initNamed(pod, 'istio-proxy')).toEqual(initNamed(before, 'istio-proxy'));
    for (const [k, v] of Object.entries(before.metadata.annotations)) expect(pod.metadata.annotations[k]).toBe(v);
    // The Service's named port still reaches the sidecar, now behind Envoy.
    expect(initNamed(pod, 'spillway').ports[0]).toEqual({ name: 'http', containerPort: 17001, protocol: 'TCP' });
    expect(pod.spec.containers[0].ports[0]).toEqual({ containerPort: 80, name: 'app-http' });
    // Nothing left to do the second time (reinvocation, or a retried admission).
    expect(spillway(pod).response).toEqual({ uid: 'req-1', allowed: true });
  });

  it('Istio, istio-proxy as a regular container: after istio-init, so its own traffic is captured', () => {
    const { pod } = spillway(meshed('istio-classic'));
    expect(names(pod.spec.initContainers)).toEqual(['istio-init', 'spillway']);
    expect(names(pod.spec.containers)).toEqual(['hello', 'istio-proxy']);
    expect(flagValue(initNamed(pod, 'istio-init').args, '-d')).toBe('15090,15021,15020,17090');
    expect(pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts']).toBe('17090');
    expect(pod.metadata.annotations['sidecar.istio.io/nativeSidecar']).toBe('false');
    expect(spillway(pod).response).toEqual({ uid: 'req-1', allowed: true });
  });

  it('Linkerd, native sidecars: after linkerd-init and linkerd-proxy, admin port skipped', () => {
    const before = meshed('linkerd-native');
    const { pod } = spillway(before);
    expect(names(pod.spec.initContainers)).toEqual(['linkerd-init', 'linkerd-proxy', 'spillway']);
    expect(names(pod.spec.containers)).toEqual(['web-svc']);
    expect(pod.metadata.annotations['config.linkerd.io/skip-inbound-ports']).toBe('17090');
    const args = initNamed(pod, 'linkerd-init').args;
    expect(flagValue(args, '--inbound-ports-to-ignore')).toBe('4190,4191,4567,4568,17090');
    // Outbound stays captured: vendor calls from the egress port go through the mesh.
    expect(flagValue(args, '--outbound-ports-to-ignore')).toBe('4567,4568');
    expect(initNamed(pod, 'linkerd-proxy')).toEqual(initNamed(before, 'linkerd-proxy'));
    expect(envOf(initNamed(pod, 'spillway')).SPILLWAY_CONFIG_KEY).toBe('emojivoto/web');
    expect(spillway(pod).response).toEqual({ uid: 'req-1', allowed: true });
  });

  it('Linkerd, linkerd-proxy as the first container: after linkerd-init', () => {
    const { pod } = spillway(meshed('linkerd-classic'));
    expect(names(pod.spec.initContainers)).toEqual(['linkerd-init', 'spillway']);
    expect(names(pod.spec.containers)).toEqual(['linkerd-proxy', 'web-svc']);
    expect(flagValue(initNamed(pod, 'linkerd-init').args, '--inbound-ports-to-ignore')).toBe('4190,4191,4567,4568,17090');
    expect(pod.metadata.annotations['config.linkerd.io/skip-inbound-ports']).toBe('17090');
    expect(spillway(pod).response).toEqual({ uid: 'req-1', allowed: true });
  });

  it.each<Fixture>(['istio-native', 'istio-classic', 'linkerd-native', 'linkerd-classic'])('%s injecting after Spillway: the reinvocation ends where the other order does', (name) => {
    const first = spillway(unmeshed(name)).pod;
    // No mesh in sight yet: exactly what a pod outside any mesh gets.
    expect(names(first.spec.initContainers)).toEqual(['spillway']);
    expect(Object.keys(first.metadata.annotations)).toEqual(['spillway.io/injected']);
    const injectedByMesh = meshInjects(first, name);
    if (name.startsWith('istio')) expect(initNamed(injectedByMesh, 'spillway').startupProbe.httpGet).toEqual({ path: '/app-health/spillway/startupz', port: 15020 });
    const reinvoked = spillway(injectedByMesh).pod;
    const meshFirst = spillway(meshed(name)).pod;
    expect(names(reinvoked.spec.initContainers)).toEqual(names(meshFirst.spec.initContainers));
    expect(names(reinvoked.spec.containers)).toEqual(names(meshFirst.spec.containers));
    const capture = name.startsWith('istio') ? 'istio-init' : 'linkerd-init';
    expect(initNamed(reinvoked, capture).args).toEqual(initNamed(meshFirst, capture).args);
    const key = name.startsWith('istio') ? 'traffic.sidecar.istio.io/excludeInboundPorts' : 'config.linkerd.io/skip-inbound-ports';
    expect(reinvoked.metadata.annotations[key]).toBe('17090');
    // The sidecar itself as first injected: Istio's probe rewrite undone (with istio-proxy a
    // regular container, the agent behind port 15020 would start only after the sidecar's
    // startup probe had to pass), its probes straight to the admin port again.
    expect(initNamed(reinvoked, 'spillway')).toEqual(initNamed(first, 'spillway'));
    expect(spillway(reinvoked).response).toEqual({ uid: 'req-1', allowed: true });
  });

  it("merges into the user's own lists, never replacing them", () => {
    const pod = meshed('istio-native');
    pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'] = '9000, 9001';
    expect(spillway(pod).pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts']).toBe('9000,9001,17090');

    const listed = meshed('istio-native');
    listed.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'] = '17090';
    expect(spillway(listed).pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts']).toBe('17090');

    const ranged = meshed('linkerd-native');
    ranged.metadata.annotations['config.linkerd.io/skip-inbound-ports'] = '17000-17100';
    const l = spillway(ranged).pod;
    expect(l.metadata.annotations['config.linkerd.io/skip-inbound-ports']).toBe('17000-17100');
    expect(flagValue(initNamed(l, 'linkerd-init').args, '--inbound-ports-to-ignore')).toBe('4190,4191,4567,4568,17090');
  });

  it('Istio capturing an explicit port list with the app port: the inbound port joins it', () => {
    const pod = meshed('istio-native');
    pod.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts'] = '80';
    const args: string[] = initNamed(pod, 'istio-init').args;
    args[args.indexOf('-b') + 1] = '80';
    const out = spillway(pod).pod;
    expect(out.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts']).toBe('80,17001');
    expect(flagValue(initNamed(out, 'istio-init').args, '-b')).toBe('80,17001');

    // A list without the app port (the user captures something else) is left alone.
    const other = meshed('istio-native');
    other.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts'] = '9090';
    expect(spillway(other).pod.metadata.annotations['traffic.sidecar.istio.io/includeInboundPorts']).toBe('9090');
  });

  it("sidecar ports inside the mesh's own range: not injected, with a warning; outside a mesh they are fine", () => {
    const clashing = parseInjectionSettings({ ...settings, ports: { listen: 15001, egress: 17002, admin: 17090 } });
    const r = spillway(meshed('istio-native'), clashing);
    expect(r.response.patch).toBeUndefined();
    expect(r.response.warnings).toEqual([expect.stringMatching(/sidecar not injected: sidecar port listen 15001 is in istio's range 15000-15090/)]);
    const linkerd = spillway(meshed('linkerd-native'), parseInjectionSettings({ ...settings, ports: { listen: 17001, egress: 4140, admin: 17090 } }));
    expect(linkerd.response.warnings).toEqual([expect.stringMatching(/egress 4140 is in linkerd's range/)]);
    expect(names(spillway(unmeshed('istio-native'), clashing).pod.spec.initContainers)).toEqual(['spillway']);
  });

  it("mesh parts it cannot read are left as they are, the sidecar still injected", () => {
    const pod = meshed('istio-native');
    pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'] = 7;
    initNamed(pod, 'istio-init').args = ['istio-iptables', '-b', '*', '-d'];
    const out = spillway(pod).pod;
    expect(names(out.spec.initContainers)).toEqual(['istio-init', 'istio-proxy', 'spillway']);
    expect(out.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts']).toBe(7);
    expect(initNamed(out, 'istio-init').args).toEqual(['istio-iptables', '-b', '*', '-d']);

    const odd = meshed('linkerd-native');
    initNamed(odd, 'linkerd-init').args = ['--inbound-ports-to-ignore', 4190];
    expect(initNamed(spillway(odd).pod, 'linkerd-init').args).toEqual(['--inbound-ports-to-ignore', 4190]);

    // Without the flag at all, it is added: the rules then leave the admin port alone.
    const bare = meshed('linkerd-native');
    initNamed(bare, 'linkerd-init').args = ['--incoming-proxy-port', '4143'];
    expect(initNamed(spillway(bare).pod, 'linkerd-init').args).toEqual(['--incoming-proxy-port', '4143', '--inbound-ports-to-ignore', '17090']);
    const joined = meshed('istio-native');
    initNamed(joined, 'istio-init').args = ['istio-iptables', '-d=15090,15021'];
    expect(initNamed(spillway(joined).pod, 'istio-init').args).toEqual(['istio-iptables', '-d=15090,15021,17090']);
  });

  it('a hand-written spillway container in a meshed pod is left as it is', () => {
    const pod = meshed('istio-native');
    pod.spec.initContainers.unshift({ name: 'spillway', image: 'mine', restartPolicy: 'Always' });
    expect(spillway(pod).response).toEqual({ uid: 'req-1', allowed: true });
  });

  it('port lists: numbers and ranges, spaces and empty items', () => {
    expect(withPort('', 17090)).toBe('17090');
    expect(withPort('15090,15021', 17090)).toBe('15090,15021,17090');
    expect(withPort(' 1 , ,2 ', 17090)).toBe('1,2,17090');
    expect(withPort('17090', 17090)).toBeNull();
    expect(withPort('17000-17100', 17090)).toBeNull();
    expect(withPort('17091-17100', 17090)).toBe('17091-17100,17090');
  });
});

const envOf = (c: Json): Record<string, unknown> => Object.fromEntries(c.env.map((e: Json) => [e.name, e.value ?? e.valueFrom]));

/**
 * Spillway beside a service mesh, pure (docs/meshes.md): which mesh injected a pod, where the
 * Spillway sidecar goes among the mesh's init containers, and the JSONPatch ops that keep the
 * sidecar's admin port out of the mesh's traffic capture. The capture is configured twice: by
 * a pod annotation (read by the mesh's injector, and by its CNI plugin when the pod starts) and,
 * once the mesh has injected, by the args it rendered into its iptables init container; both
 * are merged, never overwritten.
 */

export type Mesh = 'istio' | 'linkerd';

interface MeshSpec {
  /** Annotation the mesh's injector writes on every pod it injects. */
  injectedAnnotation: string;
  /** The mesh's traffic-capture, validation and proxy containers: Spillway starts after them. */
  containers: readonly string[];
  /** Pod annotation listing inbound ports left out of capture. */
  excludeInboundAnnotation: string;
  /** The init container that installs the iptables rules, and its flag for those ports. */
  captureInit: string;
  excludeInboundFlag: string;
  /** The ports the mesh's proxy binds in the pod (docs/meshes.md). */
  reserved: readonly [number, number];
}

const MESHES: Record<Mesh, MeshSpec> = {
  istio: {
    injectedAnnotation: 'sidecar.istio.io/status',
    containers: ['istio-init', 'istio-validation', 'istio-proxy'],
    excludeInboundAnnotation: 'traffic.sidecar.istio.io/excludeInboundPorts',
    captureInit: 'istio-init',
    excludeInboundFlag: '-d',
    reserved: [15000, 15090],
  },
  linkerd: {
    injectedAnnotation: 'linkerd.io/proxy-version',
    containers: ['linkerd-init', 'linkerd-network-validator', 'linkerd-proxy'],
    excludeInboundAnnotation: 'config.linkerd.io/skip-inbound-ports',
    captureInit: 'linkerd-init',
    excludeInboundFlag: '--inbound-ports-to-ignore',
    reserved: [4140, 4191],
  },
};

/** Istio captures only these inbound ports when the list is explicit (not `*`). */
const ISTIO_INCLUDE_INBOUND_ANNOTATION = 'traffic.sidecar.istio.io/includeInboundPorts';
const ISTIO_INCLUDE_INBOUND_FLAG = '-b';

export interface MeshContainer {
  name?: unknown;
  args?: unknown;
  env?: unknown;
}

export interface MeshPod {
  annotations: Record<string, unknown>;
  containers: MeshContainer[];
  initContainers: MeshContainer[];
}

export interface MeshPorts {
  listen: number;
  admin: number;
  egress: number;
  /** The app port the sidecar forwards to (Istio's explicit capture list follows it to `listen`). */
  app: number;
}

export interface MeshOp {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

const ptr = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** The meshes that injected `pod`, by their annotation or their containers. */
export function detectMeshes(pod: MeshPod): Mesh[] {
  const names = new Set([...pod.containers, ...pod.initContainers].map((c) => c.name));
  return (Object.keys(MESHES) as Mesh[]).filter((m) => MESHES[m].injectedAnnotation in pod.annotations || MESHES[m].containers.some((n) => names.has(n)));
}

/** The index in initContainers right after the last mesh container there (0 without one). */
export function sidecarIndex(initContainers: MeshContainer[], meshes: Mesh[]): number {
  const names = new Set(meshes.flatMap((m) => MESHES[m].containers));
  let after = 0;
  initContainers.forEach((c, i) => {
    if (typeof c.name === 'string' && names.has(c.name)) after = i + 1;
  });
  return after;
}

/** Why the sidecar's ports cannot live beside these meshes, or undefined. */
export function reservedPortConflict(meshes: Mesh[], ports: Omit<MeshPorts, 'app'>): string | undefined {
  for (const m of meshes) {
    const [lo, hi] = MESHES[m].reserved;
    for (const [name, port] of Object.entries(ports)) {
      if (port >= lo && port <= hi) return `sidecar port ${name} ${port} is in ${m}'s range ${lo}-${hi}`;
    }
  }
  return undefined;
}

/** `list` (comma-separated ports or ranges `a-b`) with `port` appended, or null when it already covers it. */
export function withPort(list: string, port: number): string | null {
  const items = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const covered = items.some((item) => {
    const range = /^(\d+)-(\d+)$/.exec(item);
    return range ? Number(range[1]) <= port && port <= Number(range[2]) : item === String(port);
  });
  return covered ? null : [...items, String(port)].join(',');
}

/** An explicit Istio capture list (not `*`, not empty: capture off) that names the app port. */
const capturesAppPortOnly = (list: string, app: number): boolean => list.trim() !== '*' && list.trim() !== '' && withPort(list, app) === null;

/**
 * Annotation ops (the caller makes sure /metadata/annotations exists first): the admin port out
 * of capture; for Istio with an explicit capture list holding the app port, the inbound port in.
 */
export function annotationOps(pod: MeshPod, meshes: Mesh[], ports: MeshPorts): MeshOp[] {
  const ops: MeshOp[] = [];
  const ensure = (key: string, port: number, onlyIf?: (list: string) => boolean): void => {
    const current = pod.annotations[key];
    if (current !== undefined && typeof current !== 'string') return;
    if (onlyIf && !onlyIf(current ?? '')) return;
    const next = withPort(current ?? '', port);
    if (next !== null) ops.push({ op: current === undefined ? 'add' : 'replace', path: `/metadata/annotations/${ptr(key)}`, value: next });
  };
  for (const m of meshes) ensure(MESHES[m].excludeInboundAnnotation, ports.admin);
  if (meshes.includes('istio')) ensure(ISTIO_INCLUDE_INBOUND_ANNOTATION, ports.listen, (list) => capturesAppPortOnly(list, ports.app));
  return ops;
}

/**
 * Ops on the capture init containers the mesh already rendered (paths by their index in the
 * pod as it is, so these go before any op that shifts initContainers).
 */
export function captureArgOps(pod: MeshPod, meshes: Mesh[], ports: MeshPorts): MeshOp[] {
  const ops: MeshOp[] = [];
  for (const m of meshes) {
    const spec = MESHES[m];
    const index = pod.initContainers.findIndex((c) => c.name === spec.captureInit);
    if (index < 0 || !Array.isArray(pod.initContainers[index].args) || !pod.initContainers[index].args.every((a) => typeof a === 'string')) continue;
    let args = [...(pod.initContainers[index].args as string[])];
    args = withFlagPort(args, spec.excludeInboundFlag, ports.admin, true);
    if (m === 'istio') args = withFlagPort(args, ISTIO_INCLUDE_INBOUND_FLAG, ports.listen, false, (list) => capturesAppPortOnly(list, ports.app));
    if (args.join('\0') !== (pod.initContainers[index].args as string[]).join('\0')) {
      ops.push({ op: 'replace', path: `/spec/initContainers/${index}/args`, value: args });
    }
  }
  return ops;
}

/** `args` with `port` merged into the value of `flag` (`flag value` or `flag=value`); appended when absent and `addMissing`. */
function withFlagPort(args: string[], flag: string, port: number, addMissing: boolean, onlyIf?: (list: string) => boolean): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const joined = out[i].startsWith(`${flag}=`);
    if (out[i] !== flag && !joined) continue;
    const valueAt = joined ? i : i + 1;
    // A flag with no value: the mesh's args are not what we know; leave them.
    if (valueAt >= out.length) return out;
    const value = joined ? out[i].slice(flag.length + 1) : out[valueAt];
    if (onlyIf && !onlyIf(value)) return out;
    const next = withPort(value, port);
    if (next !== null) out[valueAt] = joined ? `${flag}=${next}` : next;
    return out;
  }
  if (addMissing) out.push(flag, String(port));
  return out;
}

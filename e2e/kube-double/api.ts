/**
 * The verbs on resources: get, list, create, update, patch (merge, JSON, strategic, apply),
 * delete with finalizers, the status and scale subresources. Every write goes through one
 * pipeline (`write`) that applies the API server's rules: status subresource split,
 * generation, schema defaults/validation, no-op detection, field ownership, side effects.
 */
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound, unsupportedMediaType } from './errors.js';
import { compileJsonPath, setPath } from './jsonpath.js';
import { recordUpdate, serverSideApply } from './managed-fields.js';
import { isObject, sameContent, specPart, timestamp } from './objects.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { apiVersionOf, groupKind, storeKey, type CrdSpec, type Registry, type ResourceType } from './registry.js';
import { CrSchema } from './schema.js';
import type { KObject, Store } from './store.js';

export interface WriteOptions {
  /** fieldManager, or the client's name from its User-Agent. */
  manager: string;
  dryRun: boolean;
  fieldValidation: 'Ignore' | 'Warn' | 'Strict';
  /** Collects `Warning` headers. */
  warnings: string[];
}

export interface ApiOptions {
  /** Play the Deployment/StatefulSet controllers: status follows spec.replicas (all ready). */
  controllers: boolean;
}

type Subresource = 'status' | 'scale' | undefined;

const CORE_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export class KubeApi {
  private readonly schemas = new Map<ResourceType, CrSchema>();

  constructor(
    readonly registry: Registry,
    readonly store: Store,
    private readonly options: ApiOptions,
  ) {
    const nsType = this.type('', 'v1', 'namespaces');
    for (const name of CORE_NAMESPACES) this.create(nsType, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, systemWrite());
  }

  type(group: string, version: string, plural: string): ResourceType {
    const t = this.registry.lookup(group, version, plural);
    if (!t) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return t;
  }

  get(t: ResourceType, ns: string | undefined, name: string): KObject {
    const obj = this.store.get(storeKey(t), ns, name);
    if (!obj) throw notFound(groupKind(t), name);
    return this.present(t, obj);
  }

  list(t: ResourceType, ns: string | undefined): KObject[] {
    return this.store.list(storeKey(t), ns).map((o) => this.present(t, o));
  }

  /** Objects are stored once per group/plural; each served version shows its own apiVersion. */
  present(t: ResourceType, obj: KObject): KObject {
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    return obj;
  }

  create(t: ResourceType, ns: string | undefined, body: unknown, opts: WriteOptions): KObject {
    const obj = this.checkBody(t, ns, body);
    const meta = obj.metadata;
    if (!meta.name) {
      if (typeof meta.generateName !== 'string') throw invalid(groupKind(t), '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
      meta.name = meta.generateName + randomUUID().slice(0, 5);
    }
    if (t.namespaced && !this.store.get('/namespaces', undefined, ns!)) throw notFound({ group: '', kind: 'Namespace', qualified: 'namespaces' }, ns!);
    if (this.store.get(storeKey(t), ns, meta.name)) throw alreadyExists(groupKind(t), meta.name);
    for (const f of ['uid', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) delete meta[f];
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    return this.write(t, undefined, obj, opts);
  }

  update(t: ResourceType, ns: string | undefined, name: string, body: unknown, sub: Subresource, opts: WriteOptions): KObject {
    const before = this.get(t, ns, name);
    if (sub === 'scale') return this.toScale(t, this.writeScale(t, before, body, opts));
    const obj = this.checkBody(t, ns, body, name);
    const rv = obj.metadata.resourceVersion;
    if (rv === undefined && t.crd) {
      throw invalid(groupKind(t), name, [{ reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
    }
    if (rv !== undefined && rv !== before.metadata.resourceVersion) throw conflict(groupKind(t), name);
    return this.write(t, before, obj, opts, sub);
  }

  patch(t: ResourceType, ns: string | undefined, name: string, contentType: string, raw: string, query: URLSearchParams, sub: Subresource, opts: WriteOptions): { obj: KObject; created: boolean } {
    const type = contentType.split(';')[0].trim();
    if (type === 'application/apply-patch+yaml') return this.apply(t, ns, name, raw, query, sub, opts);
    const patch = parseJson(raw);
    const before = this.get(t, ns, name);
    const target = sub === 'scale' ? this.toScale(t, before) : before;
    let patched: unknown;
    if (type === 'application/merge-patch+json') patched = mergePatch(target, patch);
    else if (type === 'application/json-patch+json') patched = jsonPatch(target, patch);
    else if (type === 'application/strategic-merge-patch+json') patched = t.crd ? mergePatch(target, patch) : strategicMergePatch(target, patch);
    else throw unsupportedMediaType(type);
    if (!isObject(patched) || !isObject(patched.metadata)) throw badRequest('the patch removed the object or its metadata');
    const rv = (patched as KObject).metadata.resourceVersion;
    if (rv !== undefined && rv !== before.metadata.resourceVersion) throw conflict(groupKind(t), name);
    if (sub === 'scale') return { obj: this.toScale(t, this.writeScale(t, before, patched, opts)), created: false };
    return { obj: this.write(t, before, this.checkBody(t, ns, patched, name), opts, sub), created: false };
  }

  private apply(t: ResourceType, ns: string | undefined, name: string, raw: string, query: URLSearchParams, sub: Subresource, opts: WriteOptions): { obj: KObject; created: boolean } {
    const manager = query.get('fieldManager');
    if (!manager) throw badRequest('PATCH /apply requires fieldManager');
    if (sub === 'scale') throw new ApiError(405, 'MethodNotAllowed', 'server-side apply of the scale subresource is not supported by the double');
    let applied: unknown;
    try {
      applied = parseYaml(raw);
    } catch (err) {
      throw badRequest(`error decoding YAML: ${(err as Error).message}`);
    }
    const obj = this.checkBody(t, ns, applied, name);
    const before = this.store.get(storeKey(t), ns, name);
    const defaulted = t.schema ? (this.schema(t).applyDefaults(structuredClone(obj)) as KObject) : undefined;
    const merged = serverSideApply(before && this.present(t, before), obj, { manager, force: query.get('force') === 'true', subresource: sub, defaulted });
    if (!before) {
      merged.metadata.namespace = ns;
      return { obj: this.create(t, ns, merged, { ...opts, manager: '' }), created: true };
    }
    return { obj: this.write(t, before, merged, { ...opts, manager: '' }, sub), created: false };
  }

  delete(t: ResourceType, ns: string | undefined, name: string, body: unknown, opts: WriteOptions): KObject | undefined {
    const before = this.get(t, ns, name);
    const pre = isObject(body) && isObject(body.preconditions) ? body.preconditions : {};
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== before.metadata.resourceVersion) throw conflict(groupKind(t), name, `Precondition failed: ResourceVersion in precondition: ${String(pre.resourceVersion)}, ResourceVersion in object meta: ${before.metadata.resourceVersion}`);
    if (pre.uid !== undefined && pre.uid !== before.metadata.uid) throw conflict(groupKind(t), name, `Precondition failed: UID in precondition: ${String(pre.uid)}, UID in object meta: ${before.metadata.uid}`);
    if ((before.metadata.finalizers ?? []).length > 0) {
      if (before.metadata.deletionTimestamp) return before;
      const marked = structuredClone(before);
      marked.metadata.deletionTimestamp = timestamp();
      marked.metadata.deletionGracePeriodSeconds = 0;
      if (t.generation) marked.metadata.generation = (before.metadata.generation ?? 1) + 1;
      return opts.dryRun ? marked : this.present(t, this.store.put(storeKey(t), marked, 'MODIFIED'));
    }
    if (opts.dryRun) return before;
    return this.remove(t, before);
  }

  private remove(t: ResourceType, obj: KObject): KObject {
    const gone = this.present(t, this.store.remove(storeKey(t), obj));
    if (t.kind === 'Namespace' && t.group === '') {
      for (const rt of this.registry.all().filter((x) => x.namespaced)) for (const o of this.store.list(storeKey(rt), obj.metadata.name)) this.store.remove(storeKey(rt), o);
    }
    if (t.kind === 'CustomResourceDefinition') {
      const removed = this.registry.unregisterCrd(obj.metadata.name);
      for (const rt of removed) {
        this.schemas.delete(rt);
        for (const o of this.store.list(storeKey(rt))) this.store.remove(storeKey(rt), o);
      }
    }
    return gone;
  }

  /** Parses and checks a request body: kind, apiVersion, name and namespace agree with the URL. */
  private checkBody(t: ResourceType, ns: string | undefined, body: unknown, name?: string): KObject {
    if (!isObject(body)) throw badRequest('the request body must be a JSON object');
    const obj = structuredClone(body) as KObject;
    if (obj.kind !== undefined && obj.kind !== t.kind) throw badRequest(`the kind of the provided object (${String(obj.kind)}) does not match the resource (${t.kind})`);
    if (!isObject(obj.metadata)) obj.metadata = { name: name ?? '' };
    if (name !== undefined && obj.metadata.name !== undefined && obj.metadata.name !== name) throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    if (name !== undefined) obj.metadata.name = name;
    if (t.namespaced) {
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      obj.metadata.namespace = ns;
    } else delete obj.metadata.namespace;
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    return obj;
  }

  /** The one write path. `before` undefined: create. */
  private write(t: ResourceType, before: KObject | undefined, input: KObject, opts: WriteOptions, sub?: Subresource): KObject {
    let obj = input;
    if (before && sub === 'status') {
      obj = { ...structuredClone(before), status: input.status };
      // Field ownership of the status write (server-side apply) comes with it.
      if (input.metadata.managedFields) obj.metadata.managedFields = input.metadata.managedFields;
    } else if (t.status) {
      if (before?.status !== undefined) obj.status = structuredClone(before.status);
      else delete obj.status;
    }
    if (before) {
      for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'namespace', 'name'])
        if (before.metadata[f] === undefined) delete obj.metadata[f];
        else obj.metadata[f] = before.metadata[f];
    }
    if (!before && t.group === '' && t.kind === 'Namespace') obj.status = { phase: 'Active' };
    this.validate(t, obj, opts);
    if (t.generation) obj.metadata.generation = !before ? 1 : (before.metadata.generation ?? 1) + (specPart(before) !== specPart(obj) ? 1 : 0);
    if (this.options.controllers && t.scale && t.group === 'apps' && sub !== 'status') playController(obj);

    if (before && sameContent(before, obj)) return before;
    if (opts.manager) recordUpdate(before, obj, opts.manager, sub === 'status' ? 'status' : undefined);
    if (opts.dryRun) return obj;
    if (before?.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length === 0) return this.remove(t, { ...obj, metadata: { ...obj.metadata, resourceVersion: before.metadata.resourceVersion } });
    const stored = this.present(t, this.store.put(storeKey(t), obj, before ? 'MODIFIED' : 'ADDED'));
    if (t.kind === 'CustomResourceDefinition' && t.group === 'apiextensions.k8s.io') return this.establish(stored);
    return stored;
  }

  private validate(t: ResourceType, obj: KObject, opts: WriteOptions): void {
    const name = obj.metadata.name;
    if (t.kind === 'CustomResourceDefinition' && t.group === 'apiextensions.k8s.io') checkCrd(obj);
    if (!t.schema) return;
    const schema = this.schema(t);
    const unknown = schema.prune(obj);
    if (unknown.length > 0 && opts.fieldValidation === 'Strict') {
      throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    if (opts.fieldValidation === 'Warn') opts.warnings.push(...unknown.map((u) => `unknown field "${u}"`));
    const causes = schema.check(obj);
    if (causes.length > 0) throw invalid(groupKind(t), name, causes);
  }

  private schema(t: ResourceType): CrSchema {
    let schema = this.schemas.get(t);
    if (!schema) this.schemas.set(t, (schema = new CrSchema(t.schema!)));
    return schema;
  }

  /** A stored CRD: its resources are registered and it reports Established, as the real server does. */
  private establish(crd: KObject): KObject {
    const spec = crd.spec as CrdSpec;
    for (const rt of this.registry.registerCrd(crd.metadata.name, spec)) this.schemas.delete(rt);
    const now = timestamp();
    const status = {
      acceptedNames: spec.names,
      storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
      ],
    };
    const t = this.type('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    const current = crd.status as { conditions?: unknown } | undefined;
    if (current?.conditions) return crd;
    return this.present(t, this.store.put(storeKey(t), { ...crd, status }, 'MODIFIED'));
  }

  toScale(t: ResourceType, obj: KObject): KObject {
    const scale = t.scale!;
    const read = (path: string): unknown => compileJsonPath(path)(obj)[0];
    const selector = scale.labelSelectorPath ? read(scale.labelSelectorPath) : undefined;
    const matchLabels = (obj.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels;
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion, creationTimestamp: obj.metadata.creationTimestamp },
      spec: { replicas: read(scale.specReplicasPath) ?? 0 },
      status: {
        replicas: read(scale.statusReplicasPath) ?? 0,
        selector: typeof selector === 'string' ? selector : matchLabels ? Object.entries(matchLabels).map(([k, v]) => `${k}=${v}`).join(',') : '',
      },
    };
  }

  private writeScale(t: ResourceType, before: KObject, body: unknown, opts: WriteOptions): KObject {
    const replicas = isObject(body) && isObject(body.spec) ? body.spec.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid({ group: 'autoscaling', kind: 'Scale', qualified: 'scale' }, before.metadata.name, [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${String(replicas)}: must be greater than or equal to 0` }]);
    }
    const rv = isObject(body) && isObject(body.metadata) ? body.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== before.metadata.resourceVersion) throw conflict(groupKind(t), before.metadata.name);
    const next = structuredClone(before);
    setPath(next, t.scale!.specReplicasPath, replicas);
    return this.write(t, before, next, opts);
  }
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
}

function checkCrd(obj: KObject): void {
  const spec = obj.spec as Partial<CrdSpec> | undefined;
  const problems: string[] = [];
  if (!spec?.group) problems.push('spec.group');
  if (!spec?.names?.plural || !spec.names.kind) problems.push('spec.names');
  if (!Array.isArray(spec?.versions) || spec.versions.length === 0) problems.push('spec.versions');
  if (problems.length === 0 && obj.metadata.name !== `${spec!.names!.plural}.${spec!.group}`) problems.push('metadata.name');
  if (problems.length > 0) {
    throw invalid({ group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', qualified: 'customresourcedefinitions.apiextensions.k8s.io' }, obj.metadata.name, problems.map((field) => ({ reason: 'FieldValueRequired', field, message: field === 'metadata.name' ? 'Invalid value: must be spec.names.plural+"."+spec.group' : 'Required value' })));
  }
}

/** What the Deployment/StatefulSet controllers and kubelets would converge to: every replica ready. */
function playController(obj: KObject): void {
  const spec = (obj.spec ?? {}) as { replicas?: number };
  const replicas = spec.replicas ?? 1;
  const status = (obj.status ?? {}) as Record<string, unknown>;
  if (status.observedGeneration === obj.metadata.generation && status.replicas === replicas) return;
  obj.status = { ...status, observedGeneration: obj.metadata.generation, replicas, readyReplicas: replicas, availableReplicas: replicas, updatedReplicas: replicas };
}

export function systemWrite(): WriteOptions {
  return { manager: '', dryRun: false, fieldValidation: 'Ignore', warnings: [] };
}

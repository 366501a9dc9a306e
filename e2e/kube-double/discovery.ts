/**
 * Discovery documents (legacy, unaggregated: kubectl falls back to them when the aggregated
 * Accept types are answered with plain JSON) and a minimal OpenAPI v3: per group/version, each
 * resource's PATCH declares the `fieldValidation` parameter, which is what makes kubectl leave
 * validation to the server, and custom resources carry their schema for `kubectl explain`.
 */
import { apiVersionOf, type Registry, type ResourceType } from './registry.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-spillway-kube-double',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiVersions(address: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
}

function groupDoc(name: string, versions: string[]): object {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(registry: Registry): object {
  const groups = [...registry.groups()].filter(([g]) => g !== '').map(([g, vs]) => groupDoc(g, vs));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(registry: Registry, group: string): object | undefined {
  const versions = registry.groups().get(group);
  return versions && { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(group, versions) };
}

export function resourceList(registry: Registry, group: string, version: string): object | undefined {
  const types = registry.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const resources: object[] = [];
  for (const t of types) {
    resources.push({ name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: VERBS, shortNames: t.shortNames, categories: t.categories });
    if (t.status) resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
    if (t.scale) resources.push({ name: `${t.plural}/scale`, singularName: '', namespaced: t.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

const gvPath = (group: string, version: string): string => (group ? `apis/${group}/${version}` : `api/${version}`);

export function openApiV3Index(registry: Registry): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [group, versions] of registry.groups()) {
    for (const version of versions) {
      const p = gvPath(group, version);
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}` };
    }
  }
  return { paths };
}

const fieldValidationParam = {
  name: 'fieldValidation',
  in: 'query',
  description: 'Ignore, Warn or Strict: what to do with unknown or duplicate fields.',
  schema: { type: 'string', uniqueItems: true },
};

function operationsFor(t: ResourceType): Record<string, object> {
  const gvk = { group: t.group, version: t.version, kind: t.kind };
  const base = `/${gvPath(t.group, t.version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}`;
  const op = (action: string): object => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk, parameters: [fieldValidationParam], responses: {} });
  return {
    [base]: { get: op('list'), post: op('post') },
    [`${base}/{name}`]: { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') },
  };
}

export function openApiV3Doc(registry: Registry, group: string, version: string): object | undefined {
  const types = registry.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const paths = Object.assign({}, ...types.map(operationsFor)) as Record<string, object>;
  const schemas: Record<string, object> = {};
  for (const t of types.filter((x) => x.schema)) {
    const reversedGroup = t.group.split('.').reverse().join('.');
    schemas[`${reversedGroup}.${t.version}.${t.kind}`] = { ...t.schema, 'x-kubernetes-group-version-kind': [{ group: t.group, version: t.version, kind: t.kind }] };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (spillway kube double)', version: SERVER_VERSION.gitVersion }, paths, components: { schemas } };
}

/**
 * The resource types the double serves: a fixed set of built-ins plus one per served version
 * of every CustomResourceDefinition stored (registered and removed as CRDs come and go).
 */
import type { GroupKind } from './errors.js';

export type JSONSchema = { [key: string]: unknown };

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** A `/status` subresource: the main resource ignores status, `/status` ignores the rest. */
  status: boolean;
  scale?: ScaleSpec;
  /** metadata.generation counts changes outside metadata and status. */
  generation: boolean;
  /** openAPIV3Schema of a custom resource: objects are validated, defaulted and pruned with it. */
  schema?: JSONSchema;
  printerColumns?: PrinterColumn[];
  /** The CRD that defines it (custom resources only). */
  crd?: string;
}

export const apiVersionOf = (t: { group: string; version: string }): string => (t.group ? `${t.group}/${t.version}` : t.version);
export const storeKey = (t: { group: string; plural: string }): string => `${t.group}/${t.plural}`;
export const groupKind = (t: ResourceType): GroupKind => ({ group: t.group, kind: t.kind, qualified: t.group ? `${t.plural}.${t.group}` : t.plural });

type BuiltIn = Pick<ResourceType, 'group' | 'version' | 'kind' | 'plural' | 'namespaced'> & Partial<ResourceType>;

const replicasScale: ScaleSpec = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };

const BUILT_INS: BuiltIn[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], status: true },
  { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations', namespaced: false },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], status: true },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'] },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], status: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], categories: ['all'], status: true, scale: replicasScale, generation: true },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true, shortNames: ['sts'], categories: ['all'], status: true, scale: replicasScale, generation: true },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true },
  { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] },
  // Stored without semantics (no RBAC enforcement, no disruption accounting, no autoscaling):
  // enough for `kubectl apply` of a Helm chart's objects.
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], status: true, generation: true },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', namespaced: true, shortNames: ['hpa'], categories: ['all'], status: true, generation: true },
  { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false, shortNames: ['crd', 'crds'], status: true, generation: true },
];

function complete(b: BuiltIn): ResourceType {
  return { singular: b.kind.toLowerCase(), shortNames: [], categories: [], status: false, generation: false, ...b };
}

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: JSONSchema };
  subresources?: { status?: object; scale?: ScaleSpec };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  scope: 'Namespaced' | 'Cluster';
  names: { kind: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[]; listKind?: string };
  versions: CrdVersion[];
}

export class Registry {
  /** key: group/version/plural */
  private readonly types = new Map<string, ResourceType>();

  constructor() {
    for (const b of BUILT_INS) this.add(complete(b));
  }

  private add(t: ResourceType): void {
    this.types.set(`${t.group}/${t.version}/${t.plural}`, t);
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all().find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Group → its versions, in registration order (the first is preferred). */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const t of this.types.values()) {
      const versions = out.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      out.set(t.group, versions);
    }
    return out;
  }

  registerCrd(name: string, spec: CrdSpec): ResourceType[] {
    this.unregisterCrd(name);
    const added = spec.versions
      .filter((v) => v.served !== false)
      .map((v) =>
        complete({
          group: spec.group,
          version: v.name,
          kind: spec.names.kind,
          plural: spec.names.plural,
          singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
          namespaced: spec.scope !== 'Cluster',
          shortNames: spec.names.shortNames ?? [],
          categories: spec.names.categories ?? [],
          status: v.subresources?.status !== undefined,
          scale: v.subresources?.scale,
          generation: true,
          schema: v.schema?.openAPIV3Schema,
          printerColumns: v.additionalPrinterColumns ?? [],
          crd: name,
        }),
      );
    added.forEach((t) => this.add(t));
    return added;
  }

  unregisterCrd(name: string): ResourceType[] {
    const removed = this.all().filter((t) => t.crd === name);
    for (const t of removed) this.types.delete(`${t.group}/${t.version}/${t.plural}`);
    return removed;
  }
}

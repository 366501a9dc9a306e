/**
 * The TrafficPolicy CustomResourceDefinition, derived from the zod schema in policy.ts (the one
 * source of truth). zod's JSON Schema is turned into a Kubernetes *structural* schema, and CEL
 * rules say what JSON Schema cannot (the zod refinements). Pure: no I/O.
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import { DEFAULT_CLASS_NAME, GROUP, KIND, PLURAL, TrafficPolicySpec, TrafficPolicyStatus, VERSION } from './policy.js';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CRD_FILE = `crds/${CRD_NAME}.yaml`;

export type JSONSchemaProps = { [key: string]: unknown };
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: string;
}

/** zod's bounds for a plain `.int()`: noise in a CRD, where int64 says it. */
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Formats Kubernetes knows; zod's own (e.g. "starts_with") are dropped (a pattern says it too). */
const K8S_FORMATS = new Set(['int32', 'int64', 'float', 'double', 'byte', 'date', 'date-time', 'password', 'uri', 'email', 'uuid', 'hostname', 'ipv4', 'ipv6', 'cidr']);

/** Rewrites one zod JSON Schema node (and its children) into a structural schema node. */
export function toStructural(node: JSONSchemaProps): JSONSchemaProps {
  const out: JSONSchemaProps = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case '$schema':
      case '$ref':
      case 'id':
        break;
      case 'properties':
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, JSONSchemaProps>).map(([k, v]) => [k, toStructural(v)]),
        );
        break;
      case 'items':
        out.items = toStructural(value as JSONSchemaProps);
        break;
      case 'additionalProperties':
        // false next to properties is what Kubernetes does anyway (pruning) and is not allowed.
        if (typeof value === 'object' && value !== null) out.additionalProperties = toStructural(value as JSONSchemaProps);
        break;
      case 'const':
        out.enum = [value];
        break;
      case 'format':
        if (K8S_FORMATS.has(value as string)) out.format = value;
        break;
      case 'minimum':
      case 'maximum':
        if (Math.abs(value as number) !== SAFE_INT) out[key] = value;
        break;
      case 'anyOf':
        Object.assign(out, mergeEnumBranches(value as JSONSchemaProps[]));
        break;
      default:
        out[key] = value;
    }
  }
  // zod spells a date-time out as a long pattern too; the format says it (and the API server checks it).
  if (out.format === 'date-time') delete out.pattern;
  // A union of literals of one type (e.g. 503 | 429) becomes one enum; whole numbers are integers.
  if (out.type === 'number' && Array.isArray(out.enum) && out.enum.every((v) => Number.isInteger(v))) out.type = 'integer';
  if (out.type === 'integer' && out.format === undefined) out.format = 'int64';
  return out;
}

function mergeEnumBranches(branches: JSONSchemaProps[]): JSONSchemaProps {
  const types = new Set(branches.map((b) => b.type));
  const simple = branches.every((b) => Array.isArray(b.enum) && Object.keys(b).every((k) => k === 'type' || k === 'enum'));
  if (types.size !== 1 || !simple) throw new Error(`crd: cannot express anyOf ${JSON.stringify(branches)} structurally`);
  return toStructural({ type: branches[0].type, enum: branches.flatMap((b) => b.enum as unknown[]) });
}

function jsonSchema(schema: z.ZodType): JSONSchemaProps {
  return toStructural(z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' }) as JSONSchemaProps);
}

/** The node at `path` (property names; "[]" steps into array items). */
function nodeAt(root: JSONSchemaProps, path: string[]): JSONSchemaProps {
  let node = root;
  for (const step of path) {
    const next = step === '[]' ? node.items : (node.properties as Record<string, JSONSchemaProps> | undefined)?.[step];
    if (!next) throw new Error(`crd: no schema at ${path.join('.')}`);
    node = next as JSONSchemaProps;
  }
  return node;
}

function addRules(root: JSONSchemaProps, path: string[], rules: CelRule[]): void {
  const node = nodeAt(root, path);
  node['x-kubernetes-validations'] = [...((node['x-kubernetes-validations'] as CelRule[] | undefined) ?? []), ...rules];
}

/** True when every element's `name` occurs once (bounded cost: the lists have maxItems). */
const uniqueNames = 'self.all(x, self.exists_one(y, y.name == x.name))';

/** The CEL rules mirroring the zod refinements in policy.ts (the operator checks them again). */
function addSpecRules(spec: JSONSchemaProps): void {
  addRules(spec, ['classes'], [{ rule: uniqueNames, message: 'class names must be unique' }]);
  addRules(spec, ['classes', '[]'], [
    { rule: `self.name != '${DEFAULT_CLASS_NAME}'`, message: `"${DEFAULT_CLASS_NAME}" is reserved for defaultClass`, fieldPath: '.name' },
  ]);
  addRules(spec, ['classes', '[]', 'match', '[]'], [
    { rule: '!(has(self.path) && has(self.pathPrefix))', message: 'set either path or pathPrefix, not both', fieldPath: '.pathPrefix' },
  ]);
  const queueRule: CelRule = {
    rule: '!has(self.timeoutMs) || (has(self.size) && self.size > 0)',
    message: 'timeoutMs needs a queue: set size > 0',
    fieldPath: '.timeoutMs',
  };
  addRules(spec, ['classes', '[]', 'queue'], [queueRule]);
  addRules(spec, ['defaultClass', 'queue'], [queueRule]);
  const adaptiveRule: CelRule = { rule: 'self.minLimit <= self.maxLimit', message: 'minLimit must not exceed maxLimit', fieldPath: '.maxLimit' };
  const fairnessRule: CelRule = {
    rule: 'has(self.header) != has(self.clientAddress)',
    message: 'set exactly one of header or clientAddress',
    fieldPath: '.header',
  };
  const fairnessQueueRule: CelRule = {
    rule: '!has(self.fairness) || (has(self.queue) && has(self.queue.size) && self.queue.size > 0)',
    message: 'fairness needs a queue: set queue.size > 0',
    fieldPath: '.fairness',
  };
  for (const cls of [['classes', '[]'], ['defaultClass']]) {
    addRules(spec, [...cls, 'concurrency', 'adaptive'], [adaptiveRule]);
    addRules(spec, [...cls, 'fairness'], [fairnessRule]);
    addRules(spec, cls, [fairnessQueueRule]);
  }
  addRules(spec, ['loadLevels', 'thresholds'], [
    { rule: 'self.size() != 3 || (self[0] < self[1] && self[1] < self[2])', message: 'thresholds must be strictly ascending' },
  ]);
  addRules(spec, ['routes'], [{ rule: uniqueNames, message: 'route names must be unique' }]);
  addRules(spec, ['routes', '[]'], [
    { rule: 'self.vendors.all(x, self.vendors.exists_one(y, y.name == x.name))', message: 'vendor names must be unique', fieldPath: '.vendors' },
    {
      rule: "!has(self.pin) || self.pin == '' || self.vendors.exists(v, v.name == self.pin)",
      message: 'pin must be "" or the name of one of the vendors',
      fieldPath: '.pin',
    },
  ]);
}

/**
 * Status: exactly what the operator writes (a field it does not declare is pruned, so a new one
 * must be added to TrafficPolicyStatus first); the lists are maps so a server-side apply of one
 * condition or class merges by key.
 */
function statusSchema(): JSONSchemaProps {
  const status = jsonSchema(TrafficPolicyStatus);
  const listMap = (path: string[], key: string): void => {
    Object.assign(nodeAt(status, path), { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] });
  };
  listMap(['conditions'], 'type');
  listMap(['classes'], 'name');
  listMap(['routes'], 'name');
  listMap(['routes', '[]', 'vendors'], 'name');
  return status;
}

const conditionColumn = (type: string) => ({
  name: type,
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
  description: `Condition ${type}`,
});

export function buildCrd(): JSONSchemaProps {
  const spec = jsonSchema(TrafficPolicySpec);
  addSpecRules(spec);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME, labels: { 'app.kubernetes.io/part-of': 'spillway' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: KIND.toLowerCase(), shortNames: ['tp'], categories: ['spillway'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name', description: 'The protected workload' },
            conditionColumn('Accepted'),
            conditionColumn('Programmed'),
            { name: 'Version', type: 'integer', jsonPath: '.status.configVersion', description: 'Config version in Redis' },
            { name: 'Replicas', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready replicas of the target' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'Overload protection for one workload: request classes, budgets, load levels and vendor routes.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: `The schema version of this object: ${GROUP}/${VERSION}.` },
                kind: { type: 'string', description: `The kind of this object: ${KIND}.` },
                metadata: { type: 'object', description: "Standard object metadata: name, namespace, labels, annotations (Kubernetes's ObjectMeta)." },
                spec: spec,
                status: statusSchema(),
              },
            },
          },
        },
      ],
    },
  };
}

const HEADER = '# Generated by `npm run generate` from api/policy.ts (api/crd.ts). Do not edit.\n';

export function renderCrdYaml(): string {
  // No anchors or aliases (`&a1` / `*a1`) for schema nodes zod shares: a reader, a diff and
  // some YAML tooling should each see every node spelled out where it applies.
  return HEADER + stringify(buildCrd(), { lineWidth: 0, aliasDuplicateObjects: false });
}

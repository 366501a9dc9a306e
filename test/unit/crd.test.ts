import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlias, isNode, parse, parseAllDocuments, visit } from 'yaml';
import { buildCrd, CRD_FILE, renderCrdYaml, type JSONSchemaProps } from '../../api/crd.js';
import { parseSpec } from '../../api/validate.js';
import { CrSchema, newAjv, toAjvSchema } from '../../e2e/kube-double/schema.js';
import { ACCEPTED, PROGRAMMED, setCondition } from '../../operator/status.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const crd = buildCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: JSONSchemaProps }; additionalPrinterColumns: Array<{ name: string }> }> } };
const openAPIV3Schema = crd.spec.versions[0].schema.openAPIV3Schema;
const example = parse(readFileSync(join(root, 'examples', 'chat-policy.yaml'), 'utf8')) as { spec: Record<string, unknown> };

/**
 * The rules of a Kubernetes structural schema (apiextensions "structural schema" doc) and the
 * OpenAPI v3.0 dialect it speaks: returns every violation with its path.
 */
function structuralViolations(node: JSONSchemaProps, path = '', inLogic = false): string[] {
  const out: string[] = [];
  const at = path || '<root>';
  for (const banned of ['$ref', '$schema', 'const', 'definitions', '$defs', 'patternProperties', 'dependencies', 'id']) {
    if (banned in node) out.push(`${at}: ${banned} is not allowed`);
  }
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
  if (!inLogic && typeof node.type !== 'string' && !preserve) out.push(`${at}: type must be set`);
  if (inLogic) for (const k of ['type', 'default', 'description', 'nullable', 'additionalProperties']) if (k in node) out.push(`${at}: ${k} inside anyOf/allOf/oneOf/not`);
  if (node.properties && 'additionalProperties' in node) out.push(`${at}: properties and additionalProperties together`);
  if (node.additionalProperties === false) out.push(`${at}: additionalProperties: false`);
  for (const k of ['exclusiveMinimum', 'exclusiveMaximum']) if (k in node && typeof node[k] !== 'boolean') out.push(`${at}: ${k} must be a boolean (OpenAPI v3.0)`);
  if (node.type === 'array' && !node.items) out.push(`${at}: array without items`);
  if (node['x-kubernetes-list-type'] === 'map') {
    const required = ((node.items as JSONSchemaProps).required as string[] | undefined) ?? [];
    for (const key of node['x-kubernetes-list-map-keys'] as string[]) if (!required.includes(key)) out.push(`${at}: list-map key ${key} must be required`);
  }
  for (const [k, v] of Object.entries((node.properties as Record<string, JSONSchemaProps>) ?? {})) out.push(...structuralViolations(v, `${path}.${k}`));
  if (node.items) out.push(...structuralViolations(node.items as JSONSchemaProps, `${path}[]`));
  if (typeof node.additionalProperties === 'object') out.push(...structuralViolations(node.additionalProperties as JSONSchemaProps, `${path}{}`));
  for (const k of ['anyOf', 'allOf', 'oneOf']) for (const b of (node[k] as JSONSchemaProps[] | undefined) ?? []) out.push(...structuralViolations(b, `${path}(${k})`, true));
  return out;
}

function check(spec: unknown): string[] {
  const obj = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p' }, spec: structuredClone(spec) };
  return new CrSchema(openAPIV3Schema).check(obj).map((c) => `${c.field}: ${c.message}`);
}

type Spec = Record<string, unknown> & { classes: Array<Record<string, unknown>> };
const exampleSpec = (): Spec => structuredClone(example.spec) as Spec;
const withRoute = (route: Record<string, unknown>): Spec => ({ ...exampleSpec(), routes: [route] });
const vendors = [
  { name: 'fcm-a', url: 'http://fcm-a:8080' },
  { name: 'fcm-b', url: 'http://fcm-b:8080' },
];

describe('TrafficPolicy CRD', () => {
  it('is committed exactly as `npm run generate` renders it', () => {
    const committed = readFileSync(join(root, CRD_FILE), 'utf8');
    expect(committed).toBe(renderCrdYaml());
    expect(parse(committed)).toEqual(buildCrd());
  });

  it('names, scope, subresources and printer columns', () => {
    const c = buildCrd() as { metadata: { name: string }; spec: Record<string, unknown> & { names: Record<string, unknown> } };
    expect(c.metadata.name).toBe('trafficpolicies.spillway.io');
    expect(c.spec.scope).toBe('Namespaced');
    expect(c.spec.names).toMatchObject({ kind: 'TrafficPolicy', plural: 'trafficpolicies', shortNames: ['tp'] });
    expect(crd.spec.versions[0]).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(crd.spec.versions[0].additionalPrinterColumns.map((p) => p.name)).toEqual(['Target', 'Accepted', 'Programmed', 'Version', 'Replicas', 'Age']);
  });

  it('has a structural schema', () => {
    expect(structuralViolations(openAPIV3Schema)).toEqual([]);
  });

  /** No unknown fields anywhere: a default must survive pruning unchanged. */
  const closed = (node: JSONSchemaProps): JSONSchemaProps => ({
    ...node,
    ...(node.properties ? { additionalProperties: false, properties: Object.fromEntries(Object.entries(node.properties as Record<string, JSONSchemaProps>).map(([k, v]) => [k, closed(v)])) } : {}),
    ...(node.items ? { items: closed(node.items as JSONSchemaProps) } : {}),
  });

  it('has defaults the API server accepts: each validates against its own schema', () => {
    const ajv = newAjv();
    const bad: string[] = [];
    const walk = (node: JSONSchemaProps, path: string): void => {
      if ('default' in node) {
        const { default: value, ...schema } = node;
        const validate = ajv.compile(closed(toAjvSchema(schema)));
        if (!validate(structuredClone(value))) bad.push(`${path}: ${ajv.errorsText(validate.errors)}`);
      }
      for (const [k, v] of Object.entries((node.properties as Record<string, JSONSchemaProps>) ?? {})) walk(v, `${path}.${k}`);
      if (node.items) walk(node.items as JSONSchemaProps, `${path}[]`);
    };
    walk(openAPIV3Schema, '');
    expect(bad).toEqual([]);
  });

  it('the structural checker catches what zod emits raw', () => {
    const raw = { type: 'object', properties: { a: { anyOf: [{ type: 'number', enum: [1] }] } }, additionalProperties: false, $schema: 'x' };
    expect(structuralViolations(raw)).toEqual(
      expect.arrayContaining(['<root>: $schema is not allowed', '<root>: properties and additionalProperties together', '.a: type must be set', '.a(anyOf): type inside anyOf/allOf/oneOf/not']),
    );
  });

  it('accepts the example policy and defaults it as zod does', () => {
    const obj = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'chat' }, spec: exampleSpec() };
    expect(new CrSchema(openAPIV3Schema).check(obj)).toEqual([]);
    const zod = parseSpec(example.spec);
    expect(zod.ok).toBe(true);
    if (zod.ok) expect(obj.spec).toEqual(JSON.parse(JSON.stringify(zod.value)));
  });

  // Each bad spec is refused by the CRD (schema or CEL) and by zod alike, naming the same field.
  const bad: Array<[string, () => unknown, string]> = [
    ['a zero limit', () => { const s = exampleSpec(); (s.classes[0].concurrency as Record<string, unknown>).limit = 0; return s; }, 'spec.classes[0].concurrency.limit'],
    ['an unknown method', () => { const s = exampleSpec(); s.classes[0].match = [{ method: 'FETCH' }]; return s; }, 'spec.classes[0].match[0].method'],
    ['a class name that is not a DNS label', () => { const s = exampleSpec(); s.classes[0].name = 'Login!'; return s; }, 'spec.classes[0].name'],
    ['a 500 rejectStatus', () => { const s = exampleSpec(); s.classes[0].rejectStatus = 500; return s; }, 'spec.classes[0].rejectStatus'],
    ['no targetRef', () => { const s = exampleSpec(); delete s.targetRef; return s; }, 'spec.targetRef'],
    ['duplicate class names', () => { const s = exampleSpec(); s.classes[1].name = s.classes[0].name; return s; }, 'spec.classes'],
    ['a class named "default"', () => { const s = exampleSpec(); s.classes[0].name = 'default'; return s; }, 'spec.classes[0].name'],
    ['descending thresholds', () => ({ ...exampleSpec(), loadLevels: { thresholds: [0.9, 0.8, 0.95] } }), 'spec.loadLevels.thresholds'],
    ['a queue timeout without a queue', () => { const s = exampleSpec(); s.classes[0].queue = { timeoutMs: 100 }; return s; }, 'spec.classes[0].queue.timeoutMs'],
    ['path and pathPrefix', () => { const s = exampleSpec(); s.classes[0].match = [{ path: '/a', pathPrefix: '/b' }]; return s; }, 'spec.classes[0].match[0].pathPrefix'],
    ['duplicate route names', () => ({ ...exampleSpec(), routes: [{ name: 'push', vendors }, { name: 'push', vendors }] }), 'spec.routes'],
    ['duplicate vendor names', () => withRoute({ name: 'push', vendors: [vendors[0], vendors[0]] }), 'spec.routes[0].vendors'],
    ['a pin that is no vendor', () => withRoute({ name: 'push', vendors, pin: 'apns' }), 'spec.routes[0].pin'],
    ['adaptive min above max', () => { const s = exampleSpec(); (s.classes[0].concurrency as Record<string, unknown>).adaptive = { minLimit: 9, maxLimit: 3 }; return s; }, 'spec.classes[0].concurrency.adaptive.maxLimit'],
    ['fairness with both keys', () => { const s = exampleSpec(); s.classes[0].queue = { size: 4 }; s.classes[0].fairness = { header: 'x-a', clientAddress: true }; return s; }, 'spec.classes[0].fairness.header'],
    ['fairness without a queue', () => { const s = exampleSpec(); s.classes[0].queue = { size: 0 }; s.classes[0].fairness = { clientAddress: true }; return s; }, 'spec.classes[0].fairness'],
    ['fairness without a queue on the default class', () => ({ ...exampleSpec(), defaultClass: { concurrency: { limit: 5 }, fairness: { clientAddress: true } } }), 'spec.defaultClass.fairness'],
    ['an unknown mode', () => ({ ...exampleSpec(), mode: 'DryRun' }), 'spec.mode'],
  ];

  it.each(bad)('refuses %s', (_what, make, field) => {
    const spec = make();
    const causes = check(spec);
    expect(causes.length).toBeGreaterThan(0);
    expect(causes.some((c) => c.startsWith(`${field}: `) || c.startsWith(`${field}.`) || c.startsWith(`${field}[`))).toBe(true);
    const zod = parseSpec(spec);
    expect(zod.ok).toBe(false);
  });

  it('accepts borrowing, adaptive limits, fairness and Shadow', () => {
    const s = exampleSpec();
    s.mode = 'Shadow';
    s.classes[0].concurrency = { limit: 10, borrow: { max: 5 }, adaptive: { minLimit: 2, maxLimit: 50 } };
    s.classes[0].queue = { size: 4 };
    s.classes[0].fairness = { header: 'x-tenant' };
    s.classes[0].mode = 'Enforce';
    expect(check(s)).toEqual([]);
    expect(parseSpec(s).ok).toBe(true);
  });

  it('accepts a route pinned to one of its vendors', () => {
    expect(check(withRoute({ name: 'push', vendors, pin: 'fcm-b' }))).toEqual([]);
  });
});

/** Every node of a schema (properties, items, map values) with its path. */
function nodes(node: JSONSchemaProps, path = ''): Array<[string, JSONSchemaProps]> {
  const out: Array<[string, JSONSchemaProps]> = [[path || '<root>', node]];
  for (const [k, v] of Object.entries((node.properties as Record<string, JSONSchemaProps>) ?? {})) out.push(...nodes(v, `${path}.${k}`));
  if (node.items) out.push(...nodes(node.items as JSONSchemaProps, `${path}[]`));
  if (typeof node.additionalProperties === 'object') out.push(...nodes(node.additionalProperties as JSONSchemaProps, `${path}{}`));
  return out;
}

describe('an API that explains itself', () => {
  // kubectl explain shows a node's description: a node without one explains nothing.
  it('has a description on every schema node', () => {
    const missing = nodes(openAPIV3Schema).filter(([, n]) => typeof n.description !== 'string' || n.description.trim() === '').map(([p]) => p);
    expect(missing).toEqual([]);
  });

  it('the walker sees properties, items and map values', () => {
    const schema = { type: 'object', description: 'r', properties: { a: { type: 'array', items: { type: 'string' } }, m: { type: 'object', description: 'm', additionalProperties: { type: 'string' } } } };
    expect(nodes(schema).filter(([, n]) => !n.description).map(([p]) => p)).toEqual(['.a', '.a[]', '.m{}']);
  });

  /** Generated YAML files: the CRD and the chart's copy (dashboards are JSON). */
  const generatedYaml = [CRD_FILE, ...readdirSync(join(root, 'charts', 'spillway', 'files')).filter((f) => f.endsWith('.yaml')).map((f) => `charts/spillway/files/${f}`)];

  function anchorsAndAliases(text: string): string[] {
    const found: string[] = [];
    for (const doc of parseAllDocuments(text)) {
      visit(doc, (_key, node) => {
        if (isAlias(node)) found.push(`alias *${node.source}`);
        else if (isNode(node) && node.anchor) found.push(`anchor &${node.anchor}`);
      });
    }
    return found;
  }

  it.each(generatedYaml)('%s has no YAML anchors or aliases', (file) => {
    expect(anchorsAndAliases(readFileSync(join(root, file), 'utf8'))).toEqual([]);
  });

  it('the anchor check finds them', () => {
    expect(anchorsAndAliases('a: &x {b: 1}\nc: *x\n')).toEqual(['anchor &x', 'alias *x']);
  });

  const statusSchema = (openAPIV3Schema.properties as Record<string, JSONSchemaProps>).status;

  it('types status fully, as metav1.Condition for conditions', () => {
    expect(statusSchema['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
    const conditions = (statusSchema.properties as Record<string, JSONSchemaProps>).conditions;
    expect(conditions).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    const item = conditions.items as JSONSchemaProps;
    expect(item.required).toEqual(expect.arrayContaining(['type', 'status', 'reason', 'message', 'lastTransitionTime']));
    expect(item.properties).toMatchObject({
      type: { type: 'string', maxLength: 316, pattern: expect.any(String) },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
      message: { type: 'string', maxLength: 32768 },
    });
    expect((item.properties as Record<string, JSONSchemaProps>).lastTransitionTime.pattern).toBeUndefined();
  });

  /** A policy object with the given status, for the API server's checks. */
  const withStatus = (status: unknown) => ({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p' }, spec: exampleSpec(), status });
  const t0 = new Date('2026-12-07T02:00:00.123Z');

  it('accepts every status the operator writes, and prunes nothing of it', () => {
    let conditions = setCondition(undefined, { type: ACCEPTED, status: 'False', reason: 'Invalid', message: 'x: bad; '.repeat(10_000) }, 3, t0);
    conditions = setCondition(conditions, { type: PROGRAMMED, status: 'False', reason: 'RedisUnavailable', message: 'config version 4 stays in force' }, 3, t0);
    const status = {
      observedGeneration: 3,
      configVersion: 4,
      readyReplicas: 0,
      publishedTarget: 'talk/chat',
      conditions,
      classes: [{ name: 'send-message', podLimit: 50 }, { name: 'default', podLimit: 1 }],
      routes: [
        { name: 'push', activeVendor: 'fcm-b', vendors: [{ name: 'fcm-a', successRate: 0.12, requests: 40 }, { name: 'fcm-b', requests: 0 }] },
        { name: 'sms', activeVendor: 'twilio' },
      ],
    };
    const obj = withStatus(structuredClone(status));
    const schema = new CrSchema(openAPIV3Schema);
    expect(schema.prune(obj)).toEqual([]);
    expect(schema.check(obj)).toEqual([]);
    expect(obj.status).toEqual(status);
    expect(schema.check(withStatus({ publishedTarget: '' }))).toEqual([]);
  });

  it('refuses a status that breaks metav1.Condition, naming the field', () => {
    const bad = { type: 'Accepted', status: 'Maybe', reason: 'not valid!', message: 'm', lastTransitionTime: 'yesterday', observedGeneration: -1 };
    const causes = new CrSchema(openAPIV3Schema).check(withStatus({ conditions: [bad] })).map((c) => c.field);
    expect(causes).toEqual(
      expect.arrayContaining(['status.conditions[0].status', 'status.conditions[0].reason', 'status.conditions[0].lastTransitionTime', 'status.conditions[0].observedGeneration']),
    );
    const missing = new CrSchema(openAPIV3Schema).check(withStatus({ conditions: [{ type: 'Accepted', status: 'True' }] })).map((c) => c.field);
    expect(missing).toEqual(expect.arrayContaining(['status.conditions[0].reason', 'status.conditions[0].message', 'status.conditions[0].lastTransitionTime']));
  });
});

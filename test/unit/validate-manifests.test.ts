/**
 * `spillway validate`'s core (api/validate.ts validateManifests): the operator's verdict on every
 * TrafficPolicy of a multi-document file, each problem with its field path, and the same verdict
 * as the API server's (the CRD schema with its CEL rules, as the API-server double applies them).
 */
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { buildCrd, type JSONSchemaProps } from '../../api/crd.js';
import { validateManifests } from '../../api/validate.js';
import { CrSchema } from '../../e2e/kube-double/schema.js';

const example = readFileSync('examples/chat-policy.yaml', 'utf8');
const crd = buildCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: JSONSchemaProps } }> } };
const apiServer = new CrSchema(crd.spec.versions[0].schema.openAPIV3Schema);

type Obj = Record<string, any>;
const edit = (fn: (p: Obj) => void): string => {
  const p = parse(example) as Obj;
  fn(p);
  return stringify(p);
};

describe('validateManifests', () => {
  it('passes the example policy', () => {
    expect(validateManifests(example)).toMatchObject([{ index: 1, what: 'TrafficPolicy talk/chat', skipped: false, problems: [], policy: { metadata: { name: 'chat' } } }]);
  });

  it('names each problem by its field path', () => {
    const text = edit((p) => {
      p.spec.classes[0].concurrency.limit = 0;
      p.spec.classes[1].match = [{ path: '/a', pathPrefix: '/b' }];
      p.spec.classes[2].name = p.spec.classes[3].name;
      p.spec.loadLevels = { thresholds: [0.9, 0.8, 0.95] };
      p.spec.classes[0].colour = 'red';
    });
    const [v] = validateManifests(text);
    expect(v.problems).toEqual([
      'spec.loadLevels.thresholds: thresholds must be strictly ascending',
      'spec.classes[0].concurrency.limit: Too small: expected number to be >=1',
      'spec.classes[0].colour: unknown field',
      'spec.classes[1].match[0].pathPrefix: set either path or pathPrefix, not both',
      expect.stringMatching(/^spec\.classes\[3\]\.name: duplicate class name "/),
    ]);
  });

  it('judges every document, skips other kinds, ignores empty documents', () => {
    const bad = edit((p) => delete p.spec.targetRef);
    const text = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: chat}\n---\n${example}\n---\n# only a comment\n---\n${bad}---\n`;
    const verdicts = validateManifests(text);
    expect(verdicts.map((v) => [v.index, v.what, v.skipped, v.problems])).toEqual([
      [1, 'apps/v1 Deployment', true, []],
      [2, 'TrafficPolicy talk/chat', false, []],
      [4, 'TrafficPolicy talk/chat', false, ['spec.targetRef: Invalid input: expected object, received undefined']],
    ]);
  });

  it('refuses what is not a policy document: broken YAML, a scalar, duplicate keys, another version', () => {
    expect(validateManifests('kind: TrafficPolicy\nspec: [unclosed\n')[0]).toMatchObject({ what: 'YAML', problems: [expect.any(String)] });
    expect(validateManifests('just a string\n')[0]).toMatchObject({ what: 'YAML', problems: [expect.stringContaining('must be a mapping')] });
    expect(validateManifests(`${example}\nspec: {}\n`)[0]).toMatchObject({ what: 'YAML', problems: [expect.stringMatching(/unique|duplicate/i)] });
    expect(validateManifests(example.replace('spillway.io/v1alpha1', 'spillway.io/v9'))[0].problems).toEqual(['apiVersion: "spillway.io/v9" is not served; use spillway.io/v1alpha1']);
  });

  it('stops alias expansion early (a "billion laughs" document)', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    // 10^12 strings if expanded: refused by the alias budget instead.
    const [v] = validateManifests(`apiVersion: spillway.io/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: x}\nspec:\n  ${lines.join('\n  ')}\n`);
    expect(v).toMatchObject({ what: 'YAML', problems: [expect.stringMatching(/alias count/i)] });
  });

  // The API server's verdict (schema, defaults, CEL) and ours agree on each case.
  const cases: Array<[string, string]> = [
    ['the example', example],
    ['a zero limit', edit((p) => (p.spec.classes[0].concurrency.limit = 0))],
    ['a 500 rejectStatus', edit((p) => (p.spec.classes[0].rejectStatus = 500))],
    ['a reserved class name', edit((p) => (p.spec.classes[0].name = 'default'))],
    ['duplicate class names', edit((p) => (p.spec.classes[1].name = p.spec.classes[0].name))],
    ['a queue timeout without a queue', edit((p) => (p.spec.classes[0].queue = { timeoutMs: 100 }))],
    ['descending thresholds', edit((p) => (p.spec.loadLevels = { thresholds: [0.9, 0.8, 0.95] }))],
    ['a pin that is no vendor', edit((p) => (p.spec.routes = [{ name: 'push', vendors: [{ name: 'a', url: 'http://a' }], pin: 'b' }]))],
    ['a route pinned to its vendor', edit((p) => (p.spec.routes = [{ name: 'push', vendors: [{ name: 'a', url: 'http://a' }], pin: 'a' }]))],
    ['no targetRef', edit((p) => delete p.spec.targetRef)],
  ];

  it.each(cases)('agrees with the API server on %s', (_what, text) => {
    const ours = validateManifests(text)[0].problems.length === 0;
    const server = apiServer.check(parse(text) as Obj).length === 0;
    expect(ours).toBe(server);
  });
});

/**
 * What `npm run scenario -- --policy FILE` does with the user's policy before a run: load and
 * validate it, find the class a scenario's requests fall into (by the sidecar's classifier),
 * edit that class, point routes at the simulators, and say what a scenario needs.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BACKGROUND_LOGIN, chatPolicy } from '../../e2e/scenarios/chat-workload.js';
import { classFor, limitEdit, loadUserPolicy, routeNeeds, withVendorUrls, type UserPolicy } from '../../e2e/scenarios/user-policy.js';

describe('scenario --policy', () => {
  let dir: string;
  const write = (name: string, spec: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, stringify({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'mine', namespace: 'app' }, spec }));
    return p;
  };
  const load = (spec: unknown): UserPolicy => {
    const r = loadUserPolicy(write('p.yaml', spec));
    if (!r.ok) throw new Error(r.problems.join('\n'));
    return r.value;
  };

  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'spillway-user-policy-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads one valid policy with the sha256 of its bytes; refuses others with the field paths', () => {
    const p = write('ok.yaml', chatPolicy());
    const r = loadUserPolicy(p);
    expect(r.ok && r.value.sha256).toBe(createHash('sha256').update(stringify({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'mine', namespace: 'app' }, spec: chatPolicy() })).digest('hex'));
    const bad = loadUserPolicy(write('bad.yaml', { targetRef: { name: 'chat' }, classes: [{ name: 'x', match: [{}], concurrency: { limit: -1 } }] }));
    expect(bad).toEqual({ ok: false, problems: [expect.stringContaining('invalid'), '  spec.classes[0].concurrency.limit: Too small: expected number to be >=1'] });
    expect(loadUserPolicy(join(dir, 'none.yaml'))).toEqual({ ok: false, problems: [`${join(dir, 'none.yaml')}: cannot read: ENOENT`] });
  });

  it('edits the class the requests fall into under the user policy, keeping the scenario\'s target', () => {
    const spec = chatPolicy();
    spec.classes = [{ name: 'logins', match: [{ method: 'POST', path: '/login' }], concurrency: { limit: 9, scope: 'Cluster' } }];
    spec.targetRef = { kind: 'StatefulSet', name: 'elsewhere' };
    const user = load(spec);
    expect(classFor(user.spec, BACKGROUND_LOGIN)).toEqual({ name: 'logins', field: 'spec.classes[0]', index: 0 });
    const edit = limitEdit(user, BACKGROUND_LOGIN, { before: 20, after: 10, spec: () => chatPolicy() });
    expect([edit.className, edit.before, edit.after]).toEqual(['logins', 9, 4]);
    const after = edit.spec(edit.after) as typeof user.spec;
    expect(after.classes[0].concurrency).toEqual({ limit: 4, scope: 'Cluster' });
    expect(after.targetRef).toEqual({ kind: 'Deployment', name: 'chat' });
    expect(user.spec.classes[0].concurrency.limit).toBe(9);
    // No class for them: the default class is edited; without --policy the scenario's own edit.
    const none = load({ targetRef: { name: 'chat' }, defaultClass: { concurrency: { limit: 1 } } });
    expect(limitEdit(none, BACKGROUND_LOGIN, { before: 20, after: 10, spec: () => chatPolicy() })).toMatchObject({ className: 'default', before: 1, after: 2 });
    expect(limitEdit(null, BACKGROUND_LOGIN, { before: 20, after: 10, spec: () => chatPolicy() })).toMatchObject({ className: 'background-login', before: 20, after: 10 });
  });

  it('points a route\'s vendors at the simulators in order and says what a vendor scenario needs', () => {
    const user = load({ targetRef: { name: 'relay' }, routes: [{ name: 'push', vendors: [{ name: 'x', url: 'https://x.example' }, { name: 'y', url: 'https://y.example' }, { name: 'z', url: 'https://z.example' }] }] });
    expect(withVendorUrls(user.spec, 'push', ['http://a', 'http://b']).routes[0].vendors.map((v) => [v.name, v.url])).toEqual([['x', 'http://a'], ['y', 'http://b'], ['z', 'http://b']]);
    expect(routeNeeds(user.spec, 'push', { vendors: 2 })).toEqual([]);
    expect(routeNeeds(user.spec, 'push', { vendors: 4, defer: true, limit: true })).toEqual([
      'route push needs at least 4 vendors (the simulators stand in for them in order); it has 3',
      'route push needs defer: the scenario judges deferral to Kafka',
      'route push needs concurrency.limit: without a budget no send is ever deferred',
    ]);
    expect(routeNeeds(user.spec, 'sms', { vendors: 1 })).toEqual(['needs a route named sms: the scenario sends to /sms/send on the egress port; its routes are push']);
  });
});

import { formatTable, parseStatusFlags, statusRows } from '../../operator/status-command.js';
import type { PolicyObject } from '../../operator/kube-api.js';

const t = '2026-12-07T02:00:00Z';
const policy = (namespace: string, name: string, spec: unknown, status?: PolicyObject['status']): PolicyObject => ({
  apiVersion: 'spillway.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { namespace, name },
  spec,
  status,
});

describe('kubectl spillway status', () => {
  const policies = [
    policy('talk', 'chat', { targetRef: { name: 'chat' }, routes: [{ name: 'push' }, { name: 'sms' }] }, {
      configVersion: 7,
      readyReplicas: 4,
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'the policy is valid', lastTransitionTime: t },
        { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'config version 7', lastTransitionTime: t },
      ],
      classes: [{ name: 'login', podLimit: 10 }, { name: 'send', podLimit: 40, adaptive: true, mode: 'Shadow' }, { name: 'default', podLimit: 100 }],
      routes: [{ name: 'push', activeVendor: 'fcm-b' }],
    }),
    policy('edge', 'bad', { targetRef: { kind: 'StatefulSet', name: 'relay' } }, {
      conditions: [{ type: 'Accepted', status: 'False', reason: 'Invalid', message: 'spec.classes[0].name: …', lastTransitionTime: t }],
    }),
    // Not reconciled yet, and a spec that is not even an object (the API server would refuse it; the table must not throw).
    policy('edge', 'new', 'garbage'),
  ];

  it('one row per policy, sorted by namespace and name, with what status says', () => {
    expect(statusRows(policies, true)).toEqual([
      ['NAMESPACE', 'NAME', 'TARGET', 'ACCEPTED', 'PROGRAMMED', 'VERSION', 'REPLICAS', 'POD LIMITS', 'VENDORS'],
      ['edge', 'bad', 'StatefulSet/relay', 'False/Invalid', '-', '-', '-', '-', '-'],
      ['edge', 'new', '-', '-', '-', '-', '-', '-', '-'],
      ['talk', 'chat', 'Deployment/chat', 'True', 'True', '7', '4', 'login=10,send=40~(shadow),default=100', 'push=fcm-b,sms=auto'],
    ]);
    expect(statusRows(policies, false)[0][0]).toBe('NAME');
  });

  it('pads columns as kubectl does and keeps every cell on one line', () => {
    const text = formatTable([
      ['NAME', 'TARGET'],
      ['a-long-name', 'x\ny\u001b[31m'],
    ]);
    expect(text).toBe('NAME          TARGET\na-long-name   x?y?[31m\n');
  });

  it('parses -n, -A, --context and --kubeconfig like kubectl; refuses -n with -A', () => {
    expect(parseStatusFlags(['-A', '--context', 'prod'])).toMatchObject({ allNamespaces: true, context: 'prod' });
    expect(parseStatusFlags(['-n', 'talk', '--kubeconfig', '/k'])).toMatchObject({ namespace: 'talk', allNamespaces: false, kubeconfig: '/k' });
    expect(parseStatusFlags(['--namespace=talk']).namespace).toBe('talk');
    expect(() => parseStatusFlags(['-A', '-n', 'talk'])).toThrow(/exclude/);
    expect(() => parseStatusFlags(['--watch'])).toThrow();
    expect(() => parseStatusFlags(['extra'])).toThrow(/unexpected argument/);
  });
});

/**
 * The Helm chart with the real helm binary: lint and template every ci/*-values.yaml, then check
 * the rendered objects: hardened containers, least-privilege RBAC (compared with the exact calls
 * operator/kube.ts makes), the CRD and its keep policy, autoscaling objects, schema refusals.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse, stringify } from 'yaml';
import { CRD_NAME } from '../../api/crd.js';
import { KIND, VERSION } from '../../api/policy.js';
import { parsePolicy } from '../../api/validate.js';
import { parseOperatorFlags } from '../../operator/flags.js';
import { parseInjectionSettings } from '../../operator/webhook.js';
import { ACCESS_LOG, SIDECAR_LIMITS } from '../../lib/sidecar-limits.js';
import { ChartValues, renderChartValuesSchema } from '../../tools/chart-values-schema.js';
import { ADMISSION_REFUSALS } from '../../sidecar/admission/outcomes.js';
import { helm, REPO_ROOT } from '../support/helm.js';

const CHART = join(REPO_ROOT, 'charts', 'spillway');
const CI_FILES = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort();
const RELEASE = 'sw';
const NAMESPACE = 'spillway-system';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [key: string]: any;
}

function template(args: string[]): { status: number; objects: K8sObject[]; stderr: string } {
  const r = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args]);
  if (r.status !== 0) return { status: r.status, objects: [], stderr: r.stderr };
  const objects = parseAllDocuments(r.stdout)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0].message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
  return { status: 0, objects, stderr: r.stderr };
}

const rendered = new Map<string, K8sObject[]>();
function render(ciFile: string): K8sObject[] {
  let objects = rendered.get(ciFile);
  if (!objects) {
    const r = template(['-f', join(CHART, 'ci', ciFile)]);
    if (r.status !== 0) throw new Error(`helm template -f ${ciFile} failed:\n${r.stderr}`);
    objects = r.objects;
    rendered.set(ciFile, objects);
  }
  return objects;
}

const ciValues = (ciFile: string): any => parse(readFileSync(join(CHART, 'ci', ciFile), 'utf8')) ?? {};

function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

function one(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0];
}

const POD_OWNERS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet']);

/** Pod specs of every workload, with the workload's kind/name for messages. */
function podSpecs(objects: K8sObject[]): Array<{ owner: string; spec: any }> {
  const out: Array<{ owner: string; spec: any }> = [];
  for (const o of objects) {
    if (POD_OWNERS.has(o.kind)) out.push({ owner: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec });
    if (o.kind === 'CronJob') out.push({ owner: `CronJob/${o.metadata.name}`, spec: o.spec.jobTemplate.spec.template.spec });
    if (o.kind === 'Pod') out.push({ owner: `Pod/${o.metadata.name}`, spec: o.spec });
  }
  return out;
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

/** One line per (group, resource, verb, resourceNames): comparable regardless of how rules are grouped. */
function flatten(rules: Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups) {
      for (const res of r.resources) {
        for (const v of r.verbs) out.push(`${g || 'core'} ${res} ${v}${r.resourceNames ? ` [${[...r.resourceNames].sort().join(',')}]` : ''}`);
      }
    }
  }
  return out.sort();
}

/** What operator/kube.ts calls on the policies' and workloads' namespaces. */
const WATCH_RULES = [
  'spillway.io trafficpolicies list',
  'spillway.io trafficpolicies watch',
  'spillway.io trafficpolicies patch',
  'spillway.io trafficpolicies/status patch',
  'apps deployments list',
  'apps deployments watch',
  'apps statefulsets list',
  'apps statefulsets watch',
  'core pods list',
  'core pods watch',
  'core events create',
].sort();
const LEASE_RULES = ['coordination.k8s.io leases create', 'coordination.k8s.io leases get [spillway-operator]', 'coordination.k8s.io leases update [spillway-operator]'];
const WEBHOOK_SECRET_RULES = ['core secrets create', `core secrets get [${RELEASE}-spillway-webhook-tls]`, `core secrets update [${RELEASE}-spillway-webhook-tls]`];
const WEBHOOK_CLUSTER_RULES = [
  `admissionregistration.k8s.io mutatingwebhookconfigurations get [${RELEASE}-spillway-webhook]`,
  `admissionregistration.k8s.io mutatingwebhookconfigurations patch [${RELEASE}-spillway-webhook]`,
];

/** redis.workloadUsers: each workload's Secret spillway-redis-<target> in the watched namespaces. */
const WORKLOAD_SECRET_RULES = ['core secrets create', 'core secrets delete', 'core secrets get', 'core secrets update'];

/** Whether a ci values file turns per-workload Redis users on (auto: with the bundled Redis). */
function workloadUsers(values: any): boolean {
  const mode = values.redis?.workloadUsers ?? 'auto';
  return mode === 'on' || (mode === 'auto' && (values.redis?.bundled?.enabled ?? true));
}

/** The expected grants per role, keyed `Kind namespace/name`, for a ci values file. */
function expectedRbac(values: any): Map<string, string[]> {
  const op = `${RELEASE}-spillway-operator`;
  const expected = new Map<string, string[]>();
  const namespaces: string[] = values.operator?.watchNamespaces ?? [];
  const watch = workloadUsers(values) ? [...WATCH_RULES, ...WORKLOAD_SECRET_RULES].sort() : WATCH_RULES;
  if (namespaces.length > 0) for (const ns of namespaces) expected.set(`Role ${ns}/${op}-watch`, watch);
  else expected.set(`ClusterRole /${op}`, watch);
  const leader = values.operator?.leaderElection?.enabled ?? true;
  const webhook = values.webhook?.enabled ?? true;
  const local = [...(leader ? LEASE_RULES : []), ...(webhook ? WEBHOOK_SECRET_RULES : [])].sort();
  if (local.length > 0) expected.set(`Role ${NAMESPACE}/${op}`, local);
  if (webhook) expected.set(`ClusterRole /${RELEASE}-spillway-webhook`, [...WEBHOOK_CLUSTER_RULES].sort());
  return expected;
}

describe('helm chart charts/spillway', () => {
  it('NetworkPolicies (off by default): Redis admits the operator and injected pods only; the webhook port the API server only', () => {
    expect(ofKind(render('default-values.yaml'), 'NetworkPolicy')).toEqual([]);
    const { objects } = template(['--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.apiServerCIDRs={10.0.0.1/32}']);
    const redis = one(objects, 'NetworkPolicy', `${RELEASE}-spillway-redis`);
    expect(redis.spec.policyTypes).toEqual(['Ingress']);
    expect(redis.spec.ingress).toEqual([
      {
        from: [
          { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'spillway', 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/component': 'operator' } } },
          { namespaceSelector: {}, podSelector: { matchLabels: { 'spillway.io/inject': 'true' } } },
        ],
        ports: [{ port: 6379, protocol: 'TCP' }],
      },
    ]);
    const op = one(objects, 'NetworkPolicy', `${RELEASE}-spillway-operator`);
    expect(op.spec.ingress).toEqual([
      { from: [{ ipBlock: { cidr: '10.0.0.1/32' } }], ports: [{ port: 9443, protocol: 'TCP' }] },
      { ports: [{ port: 17091, protocol: 'TCP' }] },
    ]);
    const r = template(['--set', 'networkPolicy.enabled=true']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/networkPolicy\.apiServerCIDRs/);
  });

  it('redis.workloadUsers=on is refused with Sentinel and beside a shared sidecarSecret', () => {
    const r = template(['-f', join(CHART, 'ci', 'redis-sentinel-values.yaml'), '--set', 'redis.workloadUsers=on', '--set', 'redis.sidecarSecret.name=']);
    expect(r.stderr).toMatch(/workloadUsers=on needs redis\.url/);
    const s = template(['-f', join(CHART, 'ci', 'redis-sentinel-values.yaml'), '--set', 'redis.workloadUsers=on']);
    expect(s.stderr).toMatch(/unset redis\.sidecarSecret\.name/);
  });

  it('has ci values files for the variants', () => {
    expect(CI_FILES).toEqual(
      expect.arrayContaining(['default-values.yaml', 'external-redis-values.yaml', 'redis-sentinel-values.yaml', 'redis-cluster-values.yaml', 'autoscaling-values.yaml', 'keda-values.yaml', 'no-crds-values.yaml', 'namespaced-values.yaml', 'webhook-values.yaml', 'cert-manager-values.yaml', 'no-webhook-values.yaml']),
    );
  });

  it.each(CI_FILES)('helm lint -f ci/%s', (ciFile) => {
    const r = helm(['lint', CHART, '--strict', '-f', join(CHART, 'ci', ciFile)]);
    expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: expect.stringContaining('0 chart(s) failed') });
  });

  it.each(CI_FILES)('ci/%s: every container has resources and a restrictive security context, and runs as non-root', (ciFile) => {
    const pods = podSpecs(render(ciFile));
    expect(pods.length).toBeGreaterThan(0);
    for (const { owner, spec } of pods) {
      const podSc = spec.securityContext ?? {};
      expect(spec.hostNetwork ?? false).toBe(false);
      expect(spec.hostPID ?? false).toBe(false);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const where = `${owner} container ${c.name}`;
        const sc = c.securityContext ?? {};
        const effective = (key: string) => sc[key] ?? podSc[key];
        expect({ where, requests: Object.keys(c.resources?.requests ?? {}).sort() }).toEqual({ where, requests: ['cpu', 'memory'] });
        expect({ where, limits: Object.keys(c.resources?.limits ?? {}).sort() }).toEqual({ where, limits: ['cpu', 'memory'] });
        expect({ where, runAsNonRoot: effective('runAsNonRoot') }).toEqual({ where, runAsNonRoot: true });
        expect({ where, uidPositive: effective('runAsUser') > 0 }).toEqual({ where, uidPositive: true });
        expect({ where, allowPrivilegeEscalation: sc.allowPrivilegeEscalation }).toEqual({ where, allowPrivilegeEscalation: false });
        expect({ where, privileged: sc.privileged ?? false }).toEqual({ where, privileged: false });
        expect({ where, readOnlyRootFilesystem: sc.readOnlyRootFilesystem }).toEqual({ where, readOnlyRootFilesystem: true });
        expect({ where, drop: sc.capabilities?.drop }).toEqual({ where, drop: ['ALL'] });
        expect({ where, add: sc.capabilities?.add ?? [] }).toEqual({ where, add: [] });
        expect({ where, seccomp: effective('seccompProfile')?.type }).toEqual({ where, seccomp: 'RuntimeDefault' });
        expect({ where, latest: /:latest$|^[^:@]+$/.test(c.image) }).toEqual({ where, latest: false });
      }
    }
  });

  it.each(CI_FILES)('ci/%s: RBAC grants exactly what the operator calls', (ciFile) => {
    const objects = render(ciFile);
    const roles = [...ofKind(objects, 'ClusterRole'), ...ofKind(objects, 'Role')];
    const actual = new Map(roles.map((r) => [`${r.kind} ${r.metadata.namespace ?? ''}/${r.metadata.name}`, flatten(r.rules ?? [])]));
    expect(actual).toEqual(expectedRbac(ciValues(ciFile)));
    // No wildcards anywhere, and every binding binds a rendered role to the operator's account only.
    for (const line of [...actual.values()].flat()) expect(line).not.toMatch(/\*/);
    const bindings = [...ofKind(objects, 'ClusterRoleBinding'), ...ofKind(objects, 'RoleBinding')];
    expect(bindings).toHaveLength(roles.length);
    for (const b of bindings) {
      const roleKey = `${b.roleRef.kind} ${b.roleRef.kind === 'Role' ? b.metadata.namespace : ''}/${b.roleRef.name}`;
      expect(actual.has(roleKey)).toBe(true);
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: `${RELEASE}-spillway-operator`, namespace: NAMESPACE }]);
    }
  });

  it('the default install: CRD kept on uninstall, two leader-electing operators with probes, PDB, bundled Redis, the webhook', () => {
    const objects = render('default-values.yaml');
    const crd = one(objects, 'CustomResourceDefinition', 'trafficpolicies.spillway.io');
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    // The chart's copy is the generated CRD, unchanged but for our labels and the annotation.
    const generated = parse(readFileSync(join(REPO_ROOT, 'crds', 'trafficpolicies.spillway.io.yaml'), 'utf8'));
    expect(crd.spec).toEqual(generated.spec);
    expect(crd.metadata.labels).toEqual(expect.objectContaining(generated.metadata.labels));

    const op = one(objects, 'Deployment', `${RELEASE}-spillway-operator`);
    expect(op.spec.replicas).toBe(2);
    const [container] = op.spec.template.spec.containers;
    expect(container.args.slice(0, 1)).toEqual(['operator']);
    expect(container.args).toEqual(expect.arrayContaining(['--leader-elect', '--admin=17091', `--lease-namespace=${NAMESPACE}`]));
    expect(container.ports).toEqual([
      { name: 'admin', containerPort: 17091, protocol: 'TCP' },
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
    ]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    // The bundled Redis's default user is off: the operator logs in as its own user, from a Secret.
    expect(env.SPILLWAY_REDIS).toEqual({ secretKeyRef: { name: `${RELEASE}-spillway-redis-auth`, key: 'url' } });
    expect(env.SPILLWAY_WORKLOAD_REDIS_URL).toBe(`redis://${RELEASE}-spillway-redis.${NAMESPACE}.svc:6379`);
    const auth = one(objects, 'Secret', `${RELEASE}-spillway-redis-auth`);
    const password = Buffer.from(auth.data.password, 'base64').toString();
    expect(password).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(Buffer.from(auth.data.url, 'base64').toString()).toBe(`redis://spillway-operator:${password}@${RELEASE}-spillway-redis.${NAMESPACE}.svc:6379`);
    expect(env.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    expect(op.spec.template.spec.serviceAccountName).toBe(`${RELEASE}-spillway-operator`);
    expect(one(objects, 'ServiceAccount', `${RELEASE}-spillway-operator`)).toBeDefined();

    const pdb = one(objects, 'PodDisruptionBudget', `${RELEASE}-spillway-operator`);
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(op.spec.selector.matchLabels);
    const metrics = one(objects, 'Service', `${RELEASE}-spillway-operator-metrics`);
    expect(metrics.spec.ports).toEqual([{ name: 'admin', port: 17091, targetPort: 'admin', protocol: 'TCP' }]);
    expect(metrics.spec.selector).toEqual(op.spec.selector.matchLabels);

    const redis = one(objects, 'Deployment', `${RELEASE}-spillway-redis`);
    expect(redis.spec.template.spec.containers[0].image).toBe('redis:7-alpine');
    expect(redis.spec.template.spec.volumes).toEqual([{ name: 'data', emptyDir: { sizeLimit: '256Mi' } }]);
    expect(one(objects, 'Service', `${RELEASE}-spillway-redis`).spec.ports[0].port).toBe(6379);
    // Auth required, no usable default user, configs never evicted (volatile-ttl), no password in the spec.
    const redisC = redis.spec.template.spec.containers[0];
    expect(redisC.args[0]).toMatch(/user default off/);
    expect(redisC.args[0]).toMatch(/--aclfile \/data\/users\.acl/);
    expect(redisC.args[0]).toMatch(/--maxmemory-policy volatile-ttl/);
    expect(redisC.env).toEqual([{ name: 'SPILLWAY_OPERATOR_PASSWORD', valueFrom: { secretKeyRef: { name: `${RELEASE}-spillway-redis-auth`, key: 'password' } } }]);
    for (const o of objects.filter((x) => x.kind !== 'Secret')) expect(JSON.stringify(o)).not.toContain(password);
    // Injected sidecars read their workload's own Secret (per-workload ACL users).
    const defaults = JSON.parse(Object.values(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data as Record<string, string>)[0]);
    expect(defaults.redisSecret).toEqual({ name: '', key: 'url', perWorkload: true });
    // Sidecar injection is on, with the operator's self-signed CA: no cert-manager object, no
    // caBundle rendered (the operator patches it), never blocking pod creation.
    const hook = one(objects, 'MutatingWebhookConfiguration', `${RELEASE}-spillway-webhook`);
    expect(hook.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
    expect(hook.webhooks).toHaveLength(1);
    expect(hook.webhooks[0].failurePolicy).toBe('Ignore');
    // Called again after a mesh's injector changed the pod (docs/meshes.md: both webhook orders).
    expect(hook.webhooks[0].reinvocationPolicy).toBe('IfNeeded');
    expect(hook.webhooks[0].clientConfig.caBundle).toBeUndefined();
    expect(env.SPILLWAY_WEBHOOK_CERT_MANAGER).toBe('false');
    expect(env.SPILLWAY_WEBHOOK_CERT_DIR).toBeUndefined();
    expect(one(objects, 'Service', `${RELEASE}-spillway-webhook`).spec.selector).toEqual(op.spec.selector.matchLabels);
    const injection = JSON.parse(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data['sidecar.json']);
    expect(injection).toEqual(expect.objectContaining({ redisUrl: `redis://${RELEASE}-spillway-redis.${NAMESPACE}.svc:6379`, readyWithoutConfigAfterSeconds: 60 }));
    // Opt-in parts stay out by default.
    for (const kind of ['HorizontalPodAutoscaler', 'ScaledObject', 'ServiceMonitor', 'PodMonitor', 'Certificate', 'Issuer']) expect(ofKind(objects, kind)).toEqual([]);
  });

  it('webhook.enabled=false: no webhook, Service, injection ConfigMap, port or env (RBAC: the per-file check)', () => {
    const objects = render('no-webhook-values.yaml');
    for (const kind of ['MutatingWebhookConfiguration', 'ConfigMap', 'Certificate', 'Issuer']) expect(ofKind(objects, kind)).toEqual([]);
    expect(ofKind(objects, 'Service').map((o) => o.metadata.name).sort()).toEqual([`${RELEASE}-spillway-operator-metrics`, `${RELEASE}-spillway-redis`]);
    const c = one(objects, 'Deployment', `${RELEASE}-spillway-operator`).spec.template.spec.containers[0];
    expect(c.ports).toEqual([{ name: 'admin', containerPort: 17091, protocol: 'TCP' }]);
    expect(c.env.filter((e: any) => /WEBHOOK|INJECTION/.test(e.name))).toEqual([]);
  });

  it('webhook.certManager.enabled: a Certificate from a self-signed Issuer, its Secret mounted, the CA injected by cert-manager', () => {
    const objects = render('cert-manager-values.yaml');
    const issuer = one(objects, 'Issuer', `${RELEASE}-spillway-webhook-selfsigned`);
    const cert = one(objects, 'Certificate', `${RELEASE}-spillway-webhook`);
    expect(cert.spec.issuerRef).toEqual({ name: issuer.metadata.name, kind: 'Issuer' });
    expect(cert.spec.secretName).toBe(`${RELEASE}-spillway-webhook-tls`);
    expect(cert.spec.dnsNames).toContain(`${RELEASE}-spillway-webhook.${NAMESPACE}.svc`);
    const hook = one(objects, 'MutatingWebhookConfiguration', `${RELEASE}-spillway-webhook`);
    expect(hook.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${NAMESPACE}/${RELEASE}-spillway-webhook`);
    const c = one(objects, 'Deployment', `${RELEASE}-spillway-operator`).spec.template.spec.containers[0];
    expect(c.env).toContainEqual({ name: 'SPILLWAY_WEBHOOK_CERT_DIR', value: '/etc/spillway/webhook-tls' });
    expect(c.volumeMounts).toContainEqual(expect.objectContaining({ name: 'webhook-tls', mountPath: '/etc/spillway/webhook-tls' }));
    const injection = JSON.parse(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data['sidecar.json']);
    expect(injection.readyWithoutConfigAfterSeconds).toBe(0);
  });

  it.each(CI_FILES)('ci/%s: the operator accepts the rendered args and env (its real flag parser)', (ciFile) => {
    const op = one(render(ciFile), 'Deployment', `${RELEASE}-spillway-operator`);
    const c = op.spec.template.spec.containers[0];
    expect(c.args[0]).toBe('operator');
    // Values from the downward API or a Secret are stand-ins here: what matters is that they are set.
    const env: NodeJS.ProcessEnv = {};
    const standIn = (e: any): string =>
      e.valueFrom?.secretKeyRef ? 'redis://from-secret:6379' : e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? NAMESPACE : `<${e.name}>`;
    for (const e of c.env) env[e.name] = e.value ?? standIn(e);
    const flags = parseOperatorFlags(c.args.slice(1), env)!;
    const values = ciValues(ciFile);
    expect(flags.admin).toBe(17091);
    expect(flags.leaderElect).toBe(values.operator?.leaderElection?.enabled ?? true);
    expect(flags.logLevel).toBe(values.operator?.logLevel ?? 'info');
    expect(flags.leaseNamespace).toBe(NAMESPACE);
    expect(flags.namespaces).toEqual(values.operator?.watchNamespaces ?? []);
    expect(flags.redis).toMatch(/^rediss?(\+sentinel|\+cluster)?:\/\//);
    // The webhook's TLS as the values choose it: the operator's own CA unless cert-manager is on.
    const webhook = values.webhook?.enabled ?? true;
    const certManager = values.webhook?.certManager?.enabled ?? false;
    expect({ served: flags.webhook !== null, selfSigned: flags.webhook?.selfSigned !== undefined, certDir: flags.webhook?.certDir }).toEqual({
      served: webhook,
      selfSigned: webhook && !certManager,
      certDir: webhook && certManager ? '/etc/spillway/webhook-tls' : undefined,
    });
  });

  it('crds.keep=false: the same CRD without the keep policy (helm uninstall deletes it and every policy)', () => {
    const r = template(['--set', 'crds.keep=false']);
    expect(r.status).toBe(0);
    const crd = one(r.objects, 'CustomResourceDefinition', CRD_NAME);
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    expect(crd.spec).toEqual(one(render('default-values.yaml'), 'CustomResourceDefinition', CRD_NAME).spec);
    const notes = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', '--set', 'crds.keep=false']).stdout;
    expect(notes).toMatch(/crds.keep=false: `helm uninstall` deletes it and every TrafficPolicy/);
  });

  it('crds.enabled=false renders no CRD', () => {
    const objects = render('no-crds-values.yaml');
    expect(ofKind(objects, 'CustomResourceDefinition')).toEqual([]);
    expect(ofKind(objects, 'Deployment').length).toBeGreaterThan(0);
  });

  it('the chart CRD file is the generated one (npm run generate keeps it in sync)', () => {
    expect(readFileSync(join(CHART, 'files', 'crd.yaml'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'crds', 'trafficpolicies.spillway.io.yaml'), 'utf8'));
  });

  it('values.schema.json is the generated one, and values.yaml satisfies its zod source', () => {
    expect(readFileSync(join(CHART, 'values.schema.json'), 'utf8')).toBe(renderChartValuesSchema());
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(ChartValues.safeParse(values).error).toBeUndefined();
  });

  it('external Redis: a URL or a Secret, and no bundled Redis', () => {
    const byUrl = render('external-redis-values.yaml');
    expect(ofKind(byUrl, 'Deployment').map((d) => d.metadata.name)).toEqual([`${RELEASE}-spillway-operator`]);
    const env = one(byUrl, 'Deployment', `${RELEASE}-spillway-operator`).spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SPILLWAY_REDIS', value: 'rediss://redis.data.svc:6380/0' });
    const bySecret = render('existing-secret-values.yaml');
    const env2 = one(bySecret, 'Deployment', `${RELEASE}-spillway-operator`).spec.template.spec.containers[0].env;
    expect(env2).toContainEqual({ name: 'SPILLWAY_REDIS', valueFrom: { secretKeyRef: { name: 'spillway-redis', key: 'url' } } });
  });

  it('external Redis Cluster by URL: the operator and the injected sidecars get the URL', () => {
    const objects = render('redis-cluster-values.yaml');
    const url = ciValues('redis-cluster-values.yaml').redis.url;
    expect(url).toMatch(/^redis\+cluster:\/\/[^@]+$/);
    expect(ofKind(objects, 'Deployment').map((d) => d.metadata.name)).toEqual([`${RELEASE}-spillway-operator`]);
    const env = one(objects, 'Deployment', `${RELEASE}-spillway-operator`).spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SPILLWAY_REDIS', value: url });
    const injection = JSON.parse(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data['sidecar.json']);
    expect(injection).toEqual(expect.objectContaining({ redisUrl: url, redisSecret: { name: '', key: 'url', perWorkload: false } }));
  });

  it('external Redis Sentinel with a password: the URL comes only from Secrets, for the operator and the sidecars', () => {
    const objects = render('redis-sentinel-values.yaml');
    const env = one(objects, 'Deployment', `${RELEASE}-spillway-operator`).spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SPILLWAY_REDIS', valueFrom: { secretKeyRef: { name: 'spillway-redis', key: 'url' } } });
    const injection = JSON.parse(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data['sidecar.json']);
    expect(injection).toEqual(expect.objectContaining({ redisUrl: '', redisSecret: { name: 'spillway-redis', key: 'url', perWorkload: false } }));
    // No Redis URL (let alone a credential) is rendered anywhere.
    expect(JSON.stringify(objects)).not.toMatch(/rediss?(\+\w+)?:\/\//);
  });

  it('watchNamespaces: --namespace flags and no leader election with one replica (no PDB)', () => {
    const objects = render('namespaced-values.yaml');
    const op = one(objects, 'Deployment', `${RELEASE}-spillway-operator`);
    expect(op.spec.replicas).toBe(1);
    const args: string[] = op.spec.template.spec.containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['--namespace=talk', '--namespace=relay']));
    expect(args).not.toContain('--leader-elect');
    expect(ofKind(objects, 'PodDisruptionBudget')).toEqual([]);
  });

  it('the webhook: a Service 443 → 9443, the webhook port, the injection defaults mounted', () => {
    const objects = render('webhook-values.yaml');
    const svc = one(objects, 'Service', `${RELEASE}-spillway-webhook`);
    expect(svc.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    const op = one(objects, 'Deployment', `${RELEASE}-spillway-operator`);
    const c = op.spec.template.spec.containers[0];
    expect(c.ports).toContainEqual({ name: 'webhook', containerPort: 9443, protocol: 'TCP' });
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    expect(env.SPILLWAY_WEBHOOK_PORT).toBe('9443');
    expect(env.SPILLWAY_INJECTION_CONFIG).toBe('/etc/spillway/injection/sidecar.json');
    const cm = one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`);
    const injection = JSON.parse(cm.data['sidecar.json']);
    expect(injection).toEqual(
      expect.objectContaining({
        image: 'ghcr.io/spillway-io/spillway:0.1.0-debug',
        ports: { listen: 17001, egress: 17002, admin: 17090 },
        stateDir: '/var/lib/spillway',
        redisUrl: `redis://${RELEASE}-spillway-redis.${NAMESPACE}.svc:6379`,
        kafkaBrokers: ['kafka.data.svc:9092'],
        logLevel: 'debug',
        readyWithoutConfigAfterSeconds: 120,
      }),
    );
    expect(injection.securityContext).toEqual(expect.objectContaining({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true }));
  });

  it("sidecar.limits and sidecar.accessLog: the sidecar's defaults and its flags' bounds, rendered into the injection settings", () => {
    const injectionOf = (objects: K8sObject[]): any => JSON.parse(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data['sidecar.json']);
    const defaults = Object.fromEntries(Object.entries(SIDECAR_LIMITS).map(([k, spec]) => [k, spec.def]));
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(values.sidecar.limits).toEqual(defaults);
    expect(values.sidecar.accessLog).toBe(ACCESS_LOG.def);
    // values.schema.json takes its bounds from the same table (tools/chart-values-schema.ts) and its
    // descriptions from values.yaml's comments, which name the bounds by hand.
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')).properties.sidecar.properties;
    for (const [k, spec] of Object.entries(SIDECAR_LIMITS)) expect(schema.limits.properties[k].description).toContain(`(\`--${spec.flag}\`, ${spec.min}..${spec.max})`);

    const byDefault = injectionOf(render('default-values.yaml'));
    expect(byDefault).toEqual(expect.objectContaining({ limits: defaults, accessLog: 'off' }));
    expect(parseInjectionSettings(byDefault)).toEqual(expect.objectContaining({ limits: defaults, accessLog: 'off' }));

    const dir = mkdtempSync(join(tmpdir(), 'spillway-limits-'));
    try {
      const file = join(dir, 'values.yaml');
      const limits = { maxClientConnections: 1_000_000, headerTimeoutMs: 100, idleTimeoutMs: 3_600_000, bodyTimeoutMs: 1000, maxHeaderBytes: 1_048_576, maxHeaderCount: 8 };
      writeFileSync(file, stringify({ sidecar: { limits, accessLog: 'refusals' } }));
      const r = template(['-f', file]);
      expect(r.stderr).toBe('');
      const injection = injectionOf(r.objects);
      expect(injection).toEqual(expect.objectContaining({ limits, accessLog: 'refusals' }));
      expect(parseInjectionSettings(injection)).toEqual(expect.objectContaining({ limits, accessLog: 'refusals' }));
      // One value set: the others keep their defaults.
      expect(injectionOf(template(['--set', 'sidecar.limits.maxClientConnections=20000']).objects).limits).toEqual({ ...defaults, maxClientConnections: 20_000 });
      // A bare `off` in a values file is YAML 1.1's false: refused, not silently read as something else.
      writeFileSync(file, 'sidecar:\n  accessLog: off\n');
      const bare = template(['-f', file]);
      expect(bare.status).not.toBe(0);
      expect(bare.stderr).toMatch(/sidecar\/accessLog/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ...Object.entries(SIDECAR_LIMITS).flatMap(([k, spec]) => [
      [['--set', `sidecar.limits.${k}=${spec.min - 1}`], new RegExp(`sidecar/limits/${k}`)] as [string[], RegExp],
      [['--set', `sidecar.limits.${k}=${spec.max + 1}`], new RegExp(`sidecar/limits/${k}`)] as [string[], RegExp],
    ]),
    [['--set', 'sidecar.limits.headerTimeoutMs=1.5'], /sidecar\/limits\/headerTimeoutMs/],
    [['--set', 'sidecar.limits.idleTimeoutMs=5s'], /sidecar\/limits\/idleTimeoutMs/],
    [['--set', 'sidecar.limits.maxConnections=10'], /additional properties 'maxConnections' not allowed/],
    [['--set', 'sidecar.accessLog=verbose'], /sidecar\/accessLog/],
  ])('values.schema.json refuses sidecar limits out of bounds: %j', (args, message) => {
    const r = template(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('autoscaling.hpa renders an autoscaling/v2 HPA on the sidecar metrics in the workload namespace', () => {
    const [hpa] = ofKind(render('autoscaling-values.yaml'), 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.metadata).toEqual(expect.objectContaining({ name: 'chat', namespace: 'talk' }));
    expect(hpa.spec).toEqual(
      expect.objectContaining({
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat' },
        minReplicas: 2,
        maxReplicas: 12,
        metrics: [
          { type: 'Pods', pods: { metric: { name: 'spillway_utilisation_ratio' }, target: { type: 'AverageValue', averageValue: '600m' } } },
          { type: 'Pods', pods: { metric: { name: 'spillway_shed_per_second' }, target: { type: 'AverageValue', averageValue: '2' } } },
        ],
      }),
    );
    expect(hpa.spec.behavior.scaleUp.stabilizationWindowSeconds).toBe(0);
  });

  it("the shed rate counts exactly the sidecar's refusal reasons", () => {
    const [so] = ofKind(render('keda-values.yaml'), 'ScaledObject');
    const outcomes = /outcome=~"([^"]+)"/.exec(so.spec.triggers[1].metadata.query)?.[1];
    expect(outcomes?.split('|').sort()).toEqual([...ADMISSION_REFUSALS].sort());
  });

  it('autoscaling.keda renders a ScaledObject with Prometheus triggers', () => {
    const objects = render('keda-values.yaml');
    expect(ofKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    const [so] = ofKind(objects, 'ScaledObject');
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.metadata).toEqual(expect.objectContaining({ name: 'relay', namespace: 'relay' }));
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'relay' });
    expect([so.spec.minReplicaCount, so.spec.maxReplicaCount]).toEqual([3, 30]);
    expect(so.spec.triggers).toEqual([
      {
        type: 'prometheus',
        name: 'spillway-utilisation',
        metricType: 'AverageValue',
        metadata: { serverAddress: 'http://prometheus.monitoring.svc:9090', query: 'sum(spillway_utilisation_ratio{namespace="relay",pod=~"relay-[0-9]+"})', threshold: '0.6' },
      },
      {
        type: 'prometheus',
        name: 'spillway-shed-rate',
        metricType: 'AverageValue',
        metadata: {
          serverAddress: 'http://prometheus.monitoring.svc:9090',
          query: 'sum(rate(spillway_requests_total{namespace="relay",pod=~"relay-[0-9]+",outcome=~"capacity|load-level|queue-timeout"}[1m]))',
          threshold: '1',
        },
      },
    ]);
  });

  it('the KEDA queries and the documented Prometheus Adapter rules are valid PromQL (promtool)', () => {
    const [so] = ofKind(render('keda-values.yaml'), 'ScaledObject');
    const exprs: string[] = so.spec.triggers.map((t: any) => t.metadata.query);
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'autoscaling.md'), 'utf8');
    const block = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith('rules:\n  custom:'));
    expect(block).toBeDefined();
    const adapter = parse(block!).rules.custom as Array<{ seriesQuery: string; name: { as: string }; metricsQuery: string }>;
    expect(adapter.map((r) => r.name.as)).toEqual(['spillway_utilisation_ratio', 'spillway_shed_per_second']);
    for (const r of adapter) {
      exprs.push(r.seriesQuery);
      // As the adapter fills its template for one namespace's pods.
      exprs.push(r.metricsQuery.replace('<<.Series>>', r.seriesQuery.split('{')[0]).replace('<<.LabelMatchers>>', 'namespace="talk",pod=~"chat-.*"').replace('<<.GroupBy>>', 'pod'));
    }
    const dir = mkdtempSync(join(tmpdir(), 'spillway-promql-'));
    try {
      const file = join(dir, 'rules.yaml');
      writeFileSync(file, stringify({ groups: [{ name: 'autoscaling', rules: exprs.map((expr, i) => ({ record: `spillway:autoscaling_check:${i}`, expr })) }] }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('monitoring: a ServiceMonitor for the operator and a PodMonitor for injected sidecars', () => {
    const objects = render('monitoring-values.yaml');
    const [sm] = ofKind(objects, 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([{ port: 'admin', path: '/metrics', interval: '30s' }]);
    const [pm] = ofKind(objects, 'PodMonitor');
    expect(pm.spec.selector).toEqual({ matchLabels: { 'spillway.io/inject': 'true' } });
    expect(pm.spec.podMetricsEndpoints[0].port).toBe('spillway-admin');
    expect(pm.metadata.labels?.release).toBe('kube-prometheus-stack');
  });

  it.each(['default-values.yaml', 'namespaced-values.yaml', 'webhook-values.yaml', 'cert-manager-values.yaml', 'no-webhook-values.yaml', 'existing-secret-values.yaml', 'redis-sentinel-values.yaml'])('NOTES.txt renders for ci/%s', (ciFile) => {
    const r = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', '-f', join(CHART, 'ci', ciFile)]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toMatch(/Spillway \S+ is installed in namespace spillway-system/);
    expect(notes).not.toMatch(/<no value>/);
    if (ciValues(ciFile).operator?.leaderElection?.enabled === false) expect(notes).not.toMatch(/get lease/);
    else expect(notes).toMatch(/get lease spillway-operator/);
    const values = ciValues(ciFile);
    if (values.webhook?.enabled === false) expect(notes).toMatch(/Sidecar injection is off/);
    else if (values.webhook?.certManager?.enabled) expect(notes).toMatch(/Webhook TLS: cert-manager/);
    else expect(notes).toMatch(/Webhook TLS: the operator's self-signed CA/);
    if (values.redis?.existingSecret?.name && !values.redis?.sidecarSecret?.name) expect(notes).toMatch(/WARNING: no Redis URL for sidecars/);
    else expect(notes).not.toMatch(/WARNING/);
    const grace = values.sidecar?.readyWithoutConfigAfterSeconds ?? 60;
    if (values.webhook?.enabled !== false) expect(notes).toMatch(grace > 0 ? new RegExp(`turns Ready after ${grace}s`) : /becomes Ready only once/);
  });

  it.each([
    [['--set', 'operator.replicas=two'], /operator\/replicas.*want integer/],
    [['--set', 'unknownKey=1'], /additional properties 'unknownKey' not allowed/],
    [['--set', 'operator.resourcez.cpu=1'], /additional properties 'resourcez' not allowed/],
    [['--set', 'operator.securityContext.runAsNonRoot=false'], /runAsNonRoot/],
    [['--set', 'redis.url=http://redis:6379', '--set', 'redis.bundled.enabled=false'], /redis\/url/],
    // Credentials never go into a literal that ends up in pod specs.
    [['--set', 'redis.url=redis+sentinel://:pw@s1:26379/m', '--set', 'redis.bundled.enabled=false'], /redis\/url/],
    [['--set', 'redis.url=redis+sentinal://s1:26379/m', '--set', 'redis.bundled.enabled=false'], /redis\/url/],
    [['--set', 'redis.sidecarSecret.key=', '--set', 'redis.bundled.enabled=false'], /redis\/sidecarSecret\/key/],
    [['--set', 'kafka.brokers[0]=no-port'], /kafka\/brokers\/0/],
    [['--set', 'autoscaling.target.kind=ReplicaSet'], /autoscaling\/target\/kind/],
    [['--set', 'sidecar.readyWithoutConfigAfterSeconds=-1'], /sidecar\/readyWithoutConfigAfterSeconds/],
    // A misspelt key anywhere is refused, not silently ignored.
    [['--set', 'webhook.enable=false'], /additional properties 'enable' not allowed/],
    [['--set', 'webhook.certManager.issuer.name=ca'], /additional properties 'issuer' not allowed/],
    [['--set', 'dashboards.label.grafana=1'], /additional properties 'label' not allowed/],
    [['--set', 'alerts.runbookBaseURL=https://x'], /additional properties 'runbookBaseURL' not allowed/],
    [['--set', 'autoscaling.utilisation.averageValue=lots'], /autoscaling\/utilisation\/averageValue/],
    [['--set', 'operator.watchNamespaces={a,a}'], /operator\/watchNamespaces/],
  ])('values.schema.json refuses %j', (args, message) => {
    const r = template(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it.each([
    [['--set', 'redis.bundled.enabled=false'], /set redis.bundled.enabled, redis.url or redis.existingSecret.name/],
    [['--set', 'redis.url=redis://x:6379'], /redis.bundled.enabled is true and an external Redis is set too/],
    [['--set', 'autoscaling.hpa.enabled=true', '--set', 'autoscaling.keda.enabled=true', '--set', 'autoscaling.target.name=chat'], /either hpa or keda/],
    [['--set', 'autoscaling.hpa.enabled=true'], /autoscaling.target.name is required/],
  ])('the templates refuse an inconsistent setup %j', (args, message) => {
    const r = template(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

describe('chart metadata, default image and the helm test hook', () => {
  const chartYaml = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
  const annotation = (key: string): any => parse(chartYaml.annotations[key]);
  const REPO = 'https://github.com/spillway-io/spillway';

  it('Chart.yaml: home, sources, maintainers and the Artifact Hub annotations', () => {
    expect(chartYaml.home).toBe(REPO);
    expect(chartYaml.sources).toEqual([REPO]);
    expect(chartYaml.maintainers.length).toBeGreaterThan(0);
    for (const m of chartYaml.maintainers) expect(m.name).toEqual(expect.any(String));
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(chartYaml.annotations['artifacthub.io/license']).toBe(pkg.license);
    expect(chartYaml.annotations['artifacthub.io/category']).toBe('networking');
    expect(chartYaml.annotations['artifacthub.io/operator']).toBe('true');
    expect(annotation('artifacthub.io/crds')).toEqual([expect.objectContaining({ kind: KIND, version: VERSION, name: CRD_NAME })]);
    for (const link of annotation('artifacthub.io/links')) expect(link.url).toMatch(new RegExp(`^${REPO}`));
    // The example Artifact Hub shows is a policy the operator accepts.
    const examples = annotation('artifacthub.io/crdsExamples');
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) expect(parsePolicy(example)).toEqual(expect.objectContaining({ ok: true }));
  });

  it('the default image is the one the release workflow publishes, and Artifact Hub lists the images the chart runs', () => {
    const workflow = parse(readFileSync(join(REPO_ROOT, '.github', 'workflows', 'release.yml'), 'utf8'));
    expect(workflow.env.IMAGE).toBe('ghcr.io/spillway-io/spillway');
    const published = `${workflow.env.IMAGE}:${chartYaml.appVersion}`;
    const objects = render('default-values.yaml');
    const op = one(objects, 'Deployment', `${RELEASE}-spillway-operator`);
    expect(op.spec.template.spec.containers[0].image).toBe(published);
    expect(JSON.parse(one(objects, 'ConfigMap', `${RELEASE}-spillway-injection`).data['sidecar.json']).image).toBe(published);
    const running = podSpecs(objects).flatMap(({ spec }) => [...(spec.initContainers ?? []), ...spec.containers].map((c: any) => c.image));
    expect(annotation('artifacthub.io/images').map((i: { image: string }) => i.image).sort()).toEqual([...new Set(running)].sort());
  });

  const testPods = (objects: K8sObject[]): K8sObject[] => objects.filter((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');

  it('helm test: a pod labelled for injection, outside the release namespace, checking the sidecar admin port from the values', () => {
    const objects = render('default-values.yaml');
    const [pod] = testPods(objects);
    expect(testPods(objects)).toHaveLength(1);
    expect(pod.metadata.namespace).toBe('default');
    expect(pod.metadata.labels?.['spillway.io/inject']).toBe('true');
    expect(pod.metadata.annotations).toEqual(
      expect.objectContaining({ 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded', 'spillway.io/app-port': '8080' }),
    );
    expect(pod.spec.restartPolicy).toBe('Never');
    const [check] = pod.spec.containers;
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(check.env).toEqual([
      { name: 'SPILLWAY_ADMIN_PORT', value: String(values.sidecar.ports.admin) },
      { name: 'SPILLWAY_TEST_TIMEOUT_SECONDS', value: String(values.tests.timeoutSeconds) },
    ]);
    expect(check.args).toEqual([readFileSync(join(CHART, 'files', 'helm-test-injection.js'), 'utf8')]);
    // helm install does not create it; helm test does.
    const install = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--skip-tests']);
    expect(install.stdout).not.toMatch(/helm.sh\/hook: test/);
  });

  it.each([
    ['tests.enabled=false', ['--set', 'tests.enabled=false']],
    ['webhook.enabled=false', ['--set', 'webhook.enabled=false']],
  ])('no helm test pod with %s', (_what, args) => {
    const r = template(args);
    expect(r.status).toBe(0);
    expect(testPods(r.objects)).toEqual([]);
  });

  it('tests.namespace: the release namespace is skipped by the default webhook selector (no pod, NOTES say why), allowed with a selector of your own', () => {
    const inRelease = ['--set', `tests.namespace=${NAMESPACE}`];
    expect(testPods(template(inRelease).objects)).toEqual([]);
    const notes = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', ...inRelease]).stdout;
    expect(notes).toMatch(/No `helm test` pod: tests.namespace \(spillway-system\) is the release namespace/);
    const selected = template([...inRelease, '--set', 'webhook.namespaceSelector.matchLabels.spillway=on']);
    expect(testPods(selected.objects).map((p) => p.metadata.namespace)).toEqual([NAMESPACE]);
    const defaults = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client']).stdout;
    expect(defaults).toMatch(/helm test sw -n spillway-system --logs/);
  });

  it.each([
    [['--set', 'crds.keep=maybe'], /crds\/keep/],
    [['--set', 'tests.namespace=Not_A_Namespace'], /tests\/namespace/],
    [['--set', 'tests.timeoutSeconds=0'], /tests\/timeoutSeconds/],
  ])('values.schema.json refuses %j', (args, message) => {
    const r = template(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

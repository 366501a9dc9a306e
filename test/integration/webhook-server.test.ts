import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startKubeDouble, type KubeDouble } from '../../e2e/kube-double/server.js';
import { silentLogger } from '../../lib/log.js';
import { parseOperatorFlags } from '../../operator/flags.js';
import { ClientKubeApi, loadKubeConfig } from '../../operator/kube.js';
import { INJECT_LABEL, parseInjectionSettings } from '../../operator/webhook.js';
import { serveWebhook } from '../../operator/webhook-server.js';
import { helm } from '../support/helm.js';
import { ensureSharedCert, generateCa, isUsable, issueServingCert, serviceDnsNames, type SharedCertOptions } from '../../operator/webhook-tls.js';

const NS = 'spillway-system';
const SERVICE = 'sw-spillway-webhook';
const CONFIG = 'sw-spillway-webhook';
const HOST = `${SERVICE}.${NS}.svc`;
const settings = parseInjectionSettings({ image: 'spillway:dev', redisUrl: 'redis://redis.spillway-system.svc:6379' });
const quiet = silentLogger;

interface Reply {
  status: number;
  body: any;
}

/** POST/GET over real TLS, trusting only `ca`, checking the name the API server would use. */
function call(port: number, ca: string, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: HOST, ca, method, path, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function review(object: unknown, uid = 'u1'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'talk', operation: 'CREATE', object },
  });
}

const pod = (labels: Record<string, string>, containers: object[] = [{ name: 'app', image: 'a', ports: [{ name: 'http', containerPort: 8080 }] }]) => ({
  metadata: { generateName: 'chat-abc12-', labels: { ...labels, 'pod-template-hash': 'abc12' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'chat-abc12', controller: true }] },
  spec: { containers },
});

function decodePatch(r: Reply): any[] {
  return JSON.parse(Buffer.from(r.body.response.patch, 'base64').toString('utf8'));
}

let double: KubeDouble;
let kube: ClientKubeApi;
let dir: string;

async function createConfig(name: string): Promise<void> {
  const res = await fetch(`${double.url}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name },
      webhooks: ['inject.spillway.io', 'inject-other.spillway.io'].map((n) => ({
        name: n,
        clientConfig: { service: { name: SERVICE, namespace: NS, path: '/mutate', port: 443 } },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
      })),
    }),
  });
  expect(res.status).toBe(201);
}

async function caBundles(name: string): Promise<string[]> {
  const res = await fetch(`${double.url}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`);
  const config = (await res.json()) as { webhooks: { clientConfig: { caBundle?: string } }[] };
  return config.webhooks.map((w) => w.clientConfig.caBundle ?? '');
}

beforeAll(async () => {
  double = await startKubeDouble({ port: 0 });
  dir = mkdtempSync(join(tmpdir(), 'spillway-webhook-'));
  double.writeKubeconfig(join(dir, 'kubeconfig'));
  kube = new ClientKubeApi(loadKubeConfig(join(dir, 'kubeconfig')), 'webhook-test');
  const ns = await fetch(`${double.url}/api/v1/namespaces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }),
  });
  expect(ns.status).toBe(201);
  await createConfig(CONFIG);
});

afterAll(async () => {
  await double?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('webhook over HTTPS with the self-signed certificate', () => {
  const shared: SharedCertOptions = { namespace: NS, secretName: `${SERVICE}-tls`, service: SERVICE, configName: CONFIG, log: quiet };
  let webhook: ReturnType<typeof serveWebhook>;
  let port: number;
  let ca: string;

  beforeAll(async () => {
    webhook = serveWebhook({ port: 0, settings, certDir: undefined, selfSigned: shared, kube, log: quiet });
    const server = await webhook.ready;
    if (!server) throw new Error('webhook did not start');
    port = server.port;
    const secret = await kube.getSecret(NS, shared.secretName);
    ca = secret?.data['ca.crt'] ?? '';
  });

  afterAll(async () => {
    await webhook?.close();
  });

  it('stores the CA and serving certificate in the shared Secret and patches every caBundle', async () => {
    const secret = await kube.getSecret(NS, shared.secretName);
    expect(Object.keys(secret?.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const b64 = Buffer.from(ca).toString('base64');
    expect(await caBundles(CONFIG)).toEqual([b64, b64]);
  });

  it('a second replica reads the same certificate; racing replicas end with one', async () => {
    const again = await ensureSharedCert(kube, shared);
    expect(again.caCert).toBe(ca);
    await createConfig('race-webhook');
    const race: SharedCertOptions = { ...shared, secretName: 'race-tls', configName: 'race-webhook' };
    const [a, b, c] = await Promise.all([ensureSharedCert(kube, race), ensureSharedCert(kube, race), ensureSharedCert(kube, race)]);
    expect(new Set([a.cert, b.cert, c.cert]).size).toBe(1);
    expect((await kube.getSecret(NS, 'race-tls'))?.data['tls.crt']).toBe(a.cert);
    expect(new Set(await caBundles('race-webhook'))).toEqual(new Set([Buffer.from(a.caCert).toString('base64')]));
  });

  it('near expiry the serving certificate is reissued by the same CA (the caBundle stays)', async () => {
    const names = serviceDnsNames(SERVICE, NS);
    const stored = await ensureSharedCert(kube, shared);
    const later = new Date(Date.now() + 340 * 86_400_000);
    expect(isUsable(stored, names, later)).toEqual({ ca: true, serving: false });
    const renewed = await ensureSharedCert(kube, { ...shared, now: () => later });
    expect(renewed.caCert).toBe(stored.caCert);
    expect(renewed.cert).not.toBe(stored.cert);
    expect(isUsable(renewed, names, later)).toEqual({ ca: true, serving: true });
    expect(await caBundles(CONFIG)).toEqual([Buffer.from(ca).toString('base64'), Buffer.from(ca).toString('base64')]);
  });

  it('/healthz answers; a client that does not trust the CA is refused', async () => {
    expect((await call(port, ca, 'GET', '/healthz')).status).toBe(200);
    const other = generateCa('someone else');
    await expect(call(port, other.caCert, 'GET', '/healthz')).rejects.toThrow(/certificate/i);
  });

  it('injects a labelled pod', async () => {
    const r = await call(port, ca, 'POST', '/mutate', review(pod({ 'spillway.io/inject': 'true' })));
    expect(r.status).toBe(200);
    expect(r.body).toEqual(expect.objectContaining({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
    expect(r.body.response).toEqual(expect.objectContaining({ uid: 'u1', allowed: true, patchType: 'JSONPatch' }));
    const ops = decodePatch(r);
    const sidecar = ops.find((o) => o.path === '/spec/initContainers').value[0];
    expect(sidecar).toEqual(expect.objectContaining({ name: 'spillway', image: 'spillway:dev', restartPolicy: 'Always' }));
    expect(sidecar.env).toContainEqual({ name: 'SPILLWAY_CONFIG_KEY', value: 'talk/chat' });
    expect(ops).toContainEqual({ op: 'replace', path: '/spec/containers/0/ports/0/name', value: 'app-http' });
  });

  it('opted-out, already-injected: allowed without a patch', async () => {
    for (const p of [pod({ 'spillway.io/inject': 'false' }), pod({ 'spillway.io/inject': 'true' }, [{ name: 'app', image: 'a' }, { name: 'spillway', image: 's' }])]) {
      const r = await call(port, ca, 'POST', '/mutate', review(p, 'u2'));
      expect(r.status).toBe(200);
      expect(r.body.response).toEqual({ uid: 'u2', allowed: true });
    }
  });

  it('a malformed pod is allowed with a warning; a body that is no AdmissionReview is a 400', async () => {
    const r = await call(port, ca, 'POST', '/mutate', review({ metadata: { labels: { 'spillway.io/inject': 'true' } }, spec: { containers: 'nope' } }, 'u3'));
    expect(r.status).toBe(200);
    expect(r.body.response).toEqual({ uid: 'u3', allowed: true, warnings: [expect.stringMatching(/not injected/)] });
    expect((await call(port, ca, 'POST', '/mutate', '{"kind":"Pod"}')).status).toBe(400);
    expect((await call(port, ca, 'POST', '/mutate', 'not json')).status).toBe(400);
    expect((await call(port, ca, 'GET', '/mutate')).status).toBe(404);
  });
});

describe('webhook with a mounted certificate (cert-manager)', () => {
  it('serves tls.crt/tls.key from the directory and picks up a rotated pair', async () => {
    const certDir = mkdtempSync(join(dir, 'certs-'));
    const names = serviceDnsNames(SERVICE, NS);
    const ca1 = generateCa('issuer 1');
    const write = (pair: { cert: string; key: string }) => {
      writeFileSync(join(certDir, 'tls.key'), pair.key);
      writeFileSync(join(certDir, 'tls.crt'), pair.cert);
    };
    write(issueServingCert(ca1, names));
    const webhook = serveWebhook({ port: 0, settings, certDir, selfSigned: undefined, kube, log: quiet, checkIntervalMs: 200 });
    try {
      const server = await webhook.ready;
      if (!server) throw new Error('webhook did not start');
      expect((await call(server.port, ca1.caCert, 'GET', '/healthz')).status).toBe(200);

      const ca2 = generateCa('issuer 2');
      write(issueServingCert(ca2, names));
      const deadline = Date.now() + 15_000;
      let rotated = false;
      while (!rotated && Date.now() < deadline) {
        rotated = await call(server.port, ca2.caCert, 'GET', '/healthz').then(
          (r) => r.status === 200,
          () => false,
        );
        if (!rotated) await new Promise((r) => setTimeout(r, 100));
      }
      expect(rotated).toBe(true);
      await expect(call(server.port, ca1.caCert, 'GET', '/healthz')).rejects.toThrow(/certificate/i);
    } finally {
      await webhook.close();
    }
  });

  it('waits for the files to appear instead of failing', async () => {
    const certDir = mkdtempSync(join(dir, 'late-'));
    const webhook = serveWebhook({ port: 0, settings, certDir, selfSigned: undefined, kube, log: quiet, checkIntervalMs: 200 });
    try {
      const ca = generateCa('late issuer');
      const pair = issueServingCert(ca, serviceDnsNames(SERVICE, NS));
      writeFileSync(join(certDir, 'tls.key'), pair.key);
      writeFileSync(join(certDir, 'tls.crt'), pair.cert);
      const server = await webhook.ready;
      expect(server).not.toBeNull();
      expect((await call(server?.port ?? 0, ca.caCert, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await webhook.close();
    }
  });
});

describe('the chart and the operator agree on the webhook wiring', () => {
  function render(...set: string[]): any[] {
    const args = ['template', 'sw', 'charts/spillway', '--namespace', NS, '-f', 'charts/spillway/ci/webhook-values.yaml', ...set.flatMap((v) => ['--set', v])];
    const r = helm(args);
    if (r.status !== 0) throw new Error(r.stderr);
    return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o !== null);
  }
  const one = (objects: any[], kind: string) => objects.filter((o) => o.kind === kind);
  function operatorFlags(objects: any[]) {
    const c = one(objects, 'Deployment').find((d) => d.metadata.name === 'sw-spillway-operator').spec.template.spec.containers[0];
    const env: NodeJS.ProcessEnv = {};
    for (const e of c.env) env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? NS : 'redis://stand-in:6379');
    return { flags: parseOperatorFlags(c.args.slice(1), env)!, container: c };
  }

  it('self-signed: the rendered configuration gets its caBundle from the operator as the chart configures it', async () => {
    const objects = render();
    const [config] = one(objects, 'MutatingWebhookConfiguration');
    const hook = config.webhooks[0];
    expect(hook).toEqual(expect.objectContaining({ failurePolicy: 'Ignore', sideEffects: 'None', admissionReviewVersions: ['v1'] }));
    expect(hook.objectSelector).toEqual({ matchLabels: { [INJECT_LABEL]: 'true' } });
    expect(hook.clientConfig.service).toEqual({ name: SERVICE, namespace: NS, path: '/mutate', port: 443 });
    const { flags } = operatorFlags(objects);
    expect(flags.webhook).toEqual({
      port: 9443,
      certDir: undefined,
      selfSigned: { service: SERVICE, namespace: NS, configName: config.metadata.name, secretName: `${SERVICE}-tls` },
      injectionConfig: '/etc/spillway/injection/sidecar.json',
    });
    const [cm] = one(objects, 'ConfigMap').filter((o) => o.metadata.name === 'sw-spillway-injection');
    expect(parseInjectionSettings(JSON.parse(cm.data['sidecar.json'])).kafkaBrokers).toEqual(['kafka.data.svc:9092']);

    // Into the API double under another name (the first describe owns CONFIG).
    config.metadata.name = 'rendered-webhook';
    const res = await fetch(`${double.url}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    expect(res.status).toBe(201);
    const self = flags.webhook?.selfSigned;
    if (!self) throw new Error('no self-signed flags');
    const material = await ensureSharedCert(kube, { ...self, configName: 'rendered-webhook', secretName: 'rendered-tls', log: quiet });
    expect(await caBundles('rendered-webhook')).toEqual([Buffer.from(material.caCert).toString('base64')]);
  });

  it('cert-manager: the Certificate Secret is mounted where the operator reads it, and no self-signing', () => {
    const objects = render('webhook.certManager.enabled=true');
    const [cert] = one(objects, 'Certificate');
    expect(cert.spec.dnsNames).toContain(`${SERVICE}.${NS}.svc`);
    const { flags, container } = operatorFlags(objects);
    expect(flags.webhook).toEqual(expect.objectContaining({ port: 9443, certDir: '/etc/spillway/webhook-tls', selfSigned: undefined }));
    const mount = container.volumeMounts.find((m: any) => m.mountPath === '/etc/spillway/webhook-tls');
    const pod = one(objects, 'Deployment').find((d) => d.metadata.name === 'sw-spillway-operator').spec.template.spec;
    expect(pod.volumes.find((v: any) => v.name === mount.name).secret.secretName).toBe(cert.spec.secretName);
    expect(one(objects, 'MutatingWebhookConfiguration')[0].metadata.annotations['cert-manager.io/inject-ca-from']).toBe(`${NS}/${cert.metadata.name}`);
  });
});

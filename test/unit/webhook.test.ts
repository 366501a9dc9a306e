import { jsonPatch } from '../../e2e/kube-double/patch.js';
import { parseInjectionSettings, review, type AdmissionReviewOut, type InjectionSettings } from '../../operator/webhook.js';
import { DEFAULT_LIMITS } from '../../sidecar/http1/server.js';
import { parseSidecarFlags } from '../../sidecar/config/flags.js';
import { SIDECAR_LIMITS } from '../../lib/sidecar-limits.js';

const settings: InjectionSettings = parseInjectionSettings({
  image: 'ghcr.io/spillway-io/spillway:0.1.0',
  ports: { listen: 17001, egress: 17002, admin: 17090 },
  resources: { requests: { cpu: '100m', memory: '64Mi' } },
  securityContext: { runAsUser: 65532, runAsNonRoot: false },
  redisUrl: 'redis://redis.spillway-system.svc:6379',
  kafkaBrokers: ['kafka-0.data.svc:9092', 'kafka-1.data.svc:9092'],
  readyWithoutConfigAfterSeconds: 60,
});

type Json = Record<string, any>;

function deploymentPod(extra: Json = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'chat-5d8f7c9b4-',
      labels: { app: 'chat', 'pod-template-hash': '5d8f7c9b4', 'spillway.io/inject': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'chat-5d8f7c9b4', controller: true, uid: 'u1' }],
      ...extra.metadata,
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'chat:1',
          ports: [
            { name: 'metrics', containerPort: 9100 },
            { name: 'http', containerPort: 8080, protocol: 'TCP' },
          ],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
          livenessProbe: { tcpSocket: { port: 8080 } },
        },
      ],
      ...extra.spec,
    },
  };
}

function request(object: unknown, namespace = 'talk'): Json {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'req-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace, operation: 'CREATE', object },
  };
}

function admitted(body: unknown): { out: AdmissionReviewOut; pod: Json | undefined } {
  const pod = (body as Json).request?.object;
  const r = review(body, settings);
  if (r.status !== 200) throw new Error(`status ${r.status}`);
  const out = r.body;
  expect(out).toEqual(expect.objectContaining({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
  expect(out.response.uid).toBe('req-1');
  expect(out.response.allowed).toBe(true);
  if (!out.response.patch) return { out, pod: undefined };
  expect(out.response.patchType).toBe('JSONPatch');
  const ops = JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8'));
  expect(ops).toEqual(r.patch);
  return { out, pod: jsonPatch(pod, ops) as Json };
}

const sidecarOf = (pod: Json): Json => pod.spec.initContainers.find((c: Json) => c.name === 'spillway');
const envOf = (c: Json): Record<string, unknown> => Object.fromEntries(c.env.map((e: Json) => [e.name, e.value ?? e.valueFrom]));

describe('sidecar injection (pure)', () => {
  it('injects a native sidecar into a labelled Deployment pod', () => {
    const { out, pod } = admitted(request(deploymentPod()));
    expect(out.response.warnings).toBeUndefined();
    expect(pod).toBeDefined();
    const p = pod as Json;
    expect(p.spec.initContainers).toHaveLength(1);
    const s = sidecarOf(p);
    expect(s).toEqual(
      expect.objectContaining({ name: 'spillway', image: 'ghcr.io/spillway-io/spillway:0.1.0', imagePullPolicy: 'IfNotPresent', restartPolicy: 'Always', args: ['sidecar'] }),
    );
    expect(envOf(s)).toEqual({
      SPILLWAY_LISTEN: '17001',
      SPILLWAY_UPSTREAM: 'http://127.0.0.1:8080',
      SPILLWAY_ADMIN: '17090',
      SPILLWAY_EGRESS: '17002',
      SPILLWAY_REDIS: 'redis://redis.spillway-system.svc:6379',
      SPILLWAY_CONFIG_KEY: 'talk/chat',
      SPILLWAY_KAFKA: 'kafka-0.data.svc:9092,kafka-1.data.svc:9092',
      SPILLWAY_STATE_DIR: '/var/lib/spillway',
      SPILLWAY_LOG_LEVEL: 'info',
      SPILLWAY_POLL_INTERVAL_MS: '10000',
      // A pod whose workload has no TrafficPolicy yet turns Ready after 60 s instead of stalling its rollout.
      SPILLWAY_READY_WITHOUT_CONFIG_AFTER: '60',
      // The engine limits and access log: the settings' defaults, the sidecar's own.
      SPILLWAY_MAX_CLIENT_CONNECTIONS: '10000',
      SPILLWAY_HEADER_TIMEOUT_MS: '10000',
      SPILLWAY_IDLE_TIMEOUT_MS: '5000',
      SPILLWAY_BODY_TIMEOUT_MS: '300000',
      SPILLWAY_MAX_HEADER_BYTES: '16384',
      SPILLWAY_MAX_HEADER_COUNT: '100',
      SPILLWAY_ACCESS_LOG: 'off',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    // The sidecar takes over the name "http"; the app's port is renamed, and its probe follows.
    expect(s.ports).toEqual([
      { name: 'http', containerPort: 17001, protocol: 'TCP' },
      { name: 'spillway-admin', containerPort: 17090, protocol: 'TCP' },
    ]);
    const app = p.spec.containers[0];
    expect(app.ports).toEqual([
      { name: 'metrics', containerPort: 9100 },
      { name: 'app-http', containerPort: 8080, protocol: 'TCP' },
    ]);
    expect(app.readinessProbe.httpGet.port).toBe('app-http');
    expect(app.livenessProbe.tcpSocket.port).toBe(8080);
    expect(s.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'spillway-admin' });
    expect(s.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'spillway-admin' });
    expect(s.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'spillway-admin' });
    // The settings cannot weaken the required restrictions (runAsNonRoot: false was given).
    expect(s.securityContext).toEqual(
      expect.objectContaining({
        runAsUser: 65532,
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      }),
    );
    expect(s.resources).toEqual({ requests: { cpu: '100m', memory: '64Mi' } });
    expect(s.volumeMounts).toEqual([{ name: 'spillway-state', mountPath: '/var/lib/spillway' }]);
    expect(p.spec.volumes).toEqual([{ name: 'spillway-state', emptyDir: { sizeLimit: '16Mi' } }]);
    expect(p.metadata.annotations).toEqual({ 'spillway.io/injected': 'talk/chat' });
  });

  it('puts the sidecar first among existing init containers and keeps existing volumes and annotations', () => {
    const pod = deploymentPod({
      metadata: { annotations: { team: 'talk' } },
      spec: { initContainers: [{ name: 'migrate', image: 'm:1' }], volumes: [{ name: 'data', emptyDir: {} }] },
    });
    const p = admitted(request(pod)).pod as Json;
    expect(p.spec.initContainers.map((c: Json) => c.name)).toEqual(['spillway', 'migrate']);
    expect(p.spec.volumes.map((v: Json) => v.name)).toEqual(['data', 'spillway-state']);
    expect(p.metadata.annotations).toEqual({ team: 'talk', 'spillway.io/injected': 'talk/chat' });
  });

  it('app port: the annotation (name or number), else "http", else the first containerPort', () => {
    const byName = admitted(request(deploymentPod({ metadata: { annotations: { 'spillway.io/app-port': 'metrics' } } }))).pod as Json;
    expect(envOf(sidecarOf(byName)).SPILLWAY_UPSTREAM).toBe('http://127.0.0.1:9100');
    expect(sidecarOf(byName).ports[0].name).toBe('metrics');
    expect(byName.spec.containers[0].ports[0].name).toBe('app-metrics');

    const undeclared = admitted(request(deploymentPod({ metadata: { annotations: { 'spillway.io/app-port': '3000' } } }))).pod as Json;
    expect(envOf(sidecarOf(undeclared)).SPILLWAY_UPSTREAM).toBe('http://127.0.0.1:3000');
    // "http" is the app's: the sidecar takes another name and nothing is renamed.
    expect(sidecarOf(undeclared).ports[0].name).toBe('spillway-http');
    expect(undeclared.spec.containers[0].ports[1].name).toBe('http');

    const first = admitted(request(deploymentPod({ spec: { containers: [{ name: 'app', image: 'a', ports: [{ containerPort: 5000 }, { containerPort: 5001 }] }] } }))).pod as Json;
    expect(envOf(sidecarOf(first)).SPILLWAY_UPSTREAM).toBe('http://127.0.0.1:5000');
    expect(sidecarOf(first).ports[0].name).toBe('http');

    const long = admitted(request(deploymentPod({ spec: { containers: [{ name: 'app', image: 'a', ports: [{ name: 'websocket-main', containerPort: 7000 }] }] } }))).pod as Json;
    expect(long.spec.containers[0].ports[0].name).toBe('app-websocket-m');
    expect(sidecarOf(long).ports[0].name).toBe('websocket-main');
  });

  it('config key: the annotation wins, then the StatefulSet owner, then generateName', () => {
    const annotated = admitted(request(deploymentPod({ metadata: { annotations: { 'spillway.io/config-key': 'talk/chat-canary' } } }))).pod as Json;
    expect(envOf(sidecarOf(annotated)).SPILLWAY_CONFIG_KEY).toBe('talk/chat-canary');

    const sts = deploymentPod({ metadata: { generateName: 'sessions-', name: 'sessions-0', labels: { 'spillway.io/inject': 'true' }, ownerReferences: [{ kind: 'StatefulSet', name: 'sessions', controller: true }] } });
    expect(envOf(sidecarOf(admitted(request(sts, 'relay')).pod as Json)).SPILLWAY_CONFIG_KEY).toBe('relay/sessions');

    const bare = deploymentPod({ metadata: { generateName: 'debug-', labels: { 'spillway.io/inject': 'true' }, ownerReferences: undefined } });
    expect(envOf(sidecarOf(admitted(request(bare)).pod as Json)).SPILLWAY_CONFIG_KEY).toBe('talk/debug');

    // A ReplicaSet without a pod-template-hash (not from a Deployment) is the workload itself.
    const rs = deploymentPod({ metadata: { generateName: 'legacy-', labels: { 'spillway.io/inject': 'true' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'legacy', controller: true }] } });
    expect(envOf(sidecarOf(admitted(request(rs)).pod as Json)).SPILLWAY_CONFIG_KEY).toBe('talk/legacy');
  });

  it('no label, opted out, already injected, or not a pod CREATE: admitted unchanged, no warning', () => {
    const noLabel = deploymentPod({ metadata: { labels: { app: 'chat' } } });
    const optedOut = deploymentPod({ metadata: { labels: { 'spillway.io/inject': 'false' } } });
    const injected = admitted(request(deploymentPod())).pod as Json;
    const manual = deploymentPod({ spec: { containers: [{ name: 'app', image: 'a', ports: [{ containerPort: 80 }] }, { name: 'spillway', image: 's' }] } });
    for (const pod of [noLabel, optedOut, injected, manual]) {
      const { out } = admitted(request(pod));
      expect(out.response).toEqual({ uid: 'req-1', allowed: true });
    }
    const update = request(deploymentPod());
    update.request.operation = 'UPDATE';
    expect(admitted(update).out.response).toEqual({ uid: 'req-1', allowed: true });
    const svc = request({ kind: 'Service' });
    svc.request.kind = { group: '', version: 'v1', kind: 'Service' };
    expect(admitted(svc).out.response).toEqual({ uid: 'req-1', allowed: true });
  });

  it('malformed pods are admitted unchanged with a warning', () => {
    const cases: unknown[] = [
      undefined,
      'a pod',
      { metadata: { labels: { 'spillway.io/inject': 'true' } } },
      { metadata: { labels: { 'spillway.io/inject': 'true' } }, spec: { containers: 'app' } },
      { metadata: { labels: { 'spillway.io/inject': 'true' } }, spec: { containers: [] } },
      { metadata: 'x', spec: { containers: [{ name: 'a' }] } },
      deploymentPod({ spec: { initContainers: {} } }),
      deploymentPod({ spec: { containers: [{ name: 'app', image: 'a' }] } }), // no port at all
      deploymentPod({ metadata: { annotations: { 'spillway.io/app-port': 'nope' } } }),
      deploymentPod({ metadata: { annotations: { 'spillway.io/config-key': 'not a key' } } }),
      deploymentPod({ spec: { containers: [{ name: 'app', image: 'a', ports: [{ containerPort: 17001 }] }] } }),
      deploymentPod({ metadata: { annotations: 7 } }),
    ];
    for (const object of cases) {
      const { out, pod } = admitted(request(object));
      expect(pod).toBeUndefined();
      expect(out.response.warnings).toEqual([expect.stringMatching(/^spillway: sidecar not injected: /)]);
    }
    const noNamespace = admitted(request(deploymentPod(), ''));
    expect(noNamespace.out.response.warnings).toEqual([expect.stringMatching(/namespace/)]);
  });

  it('without a Redis URL for sidecars nothing is injected, with a warning saying so', () => {
    const r = review(request(deploymentPod()), { ...settings, redisUrl: '' });
    expect(r.status === 200 && r.body.response).toEqual({ uid: 'req-1', allowed: true, warnings: [expect.stringMatching(/no Redis URL/)] });
  });

  it('with redisSecret the sidecar reads its Redis URL from that Secret in its own namespace, never a literal', () => {
    const s = parseInjectionSettings({ image: 'x:1', redisSecret: { name: 'spillway-redis', key: 'sidecar-url' } });
    const r = review(request(deploymentPod()), s);
    const patch = r.status === 200 ? JSON.stringify(r.patch) : '';
    expect(patch).toContain('{"name":"SPILLWAY_REDIS","valueFrom":{"secretKeyRef":{"name":"spillway-redis","key":"sidecar-url"}}}');
    expect(() => parseInjectionSettings({ image: 'x', redisSecret: { name: 'a', key: '' } })).toThrow(/redisSecret\.key/);
    expect(() => parseInjectionSettings({ image: 'x', redisSecret: { name: 'a', key: 'k', extra: 1 } })).toThrow(/redisSecret/);
  });

  it("with redisSecret.perWorkload the sidecar reads the URL from its workload's own Secret (the operator's per-workload ACL user)", () => {
    const s = parseInjectionSettings({ image: 'x:1', redisSecret: { name: '', key: 'url', perWorkload: true } });
    const r = review(request(deploymentPod()), s);
    const patch = r.status === 200 ? JSON.stringify(r.patch) : '';
    // Optional: a workload without a TrafficPolicy has no Secret yet and its pods still start, unconfigured.
    expect(patch).toContain('{"name":"SPILLWAY_REDIS","valueFrom":{"secretKeyRef":{"name":"spillway-redis-chat","key":"url","optional":true}}}');
    expect(patch).toContain('{"name":"SPILLWAY_REDIS_OPTIONAL","value":"true"}');
    expect(patch).not.toContain('redis://');
  });

  it('a body that is not an AdmissionReview is a 400', () => {
    for (const body of [null, [], 'x', { kind: 'Pod' }, { kind: 'AdmissionReview' }, { kind: 'AdmissionReview', request: { object: {} } }]) {
      expect(review(body, settings).status).toBe(400);
    }
  });

  it('settings: defaults for everything but the image, refusals name the field', () => {
    const s = parseInjectionSettings({ image: 'x:1' });
    expect(s).toEqual(expect.objectContaining({ ports: { listen: 17001, egress: 17002, admin: 17090 }, stateDir: '/var/lib/spillway', redisUrl: '', kafkaBrokers: [] }));
    // Absent (a ConfigMap from before the setting): the sidecar's own default, ready only with a config.
    expect(s.readyWithoutConfigAfterSeconds).toBe(0);
    const injected = review(request(deploymentPod()), parseInjectionSettings({ image: 'x:1', redisUrl: 'redis://r:6379' }));
    expect(injected.status === 200 && JSON.stringify(injected.patch)).toContain('{"name":"SPILLWAY_READY_WITHOUT_CONFIG_AFTER","value":"0"}');
    expect(() => parseInjectionSettings({ image: 'x', ports: { listen: 0 } })).toThrow(/ports\.listen/);
    expect(() => parseInjectionSettings({ image: 'x', readyWithoutConfigAfterSeconds: -1 })).toThrow(/readyWithoutConfigAfterSeconds/);
    expect(() => parseInjectionSettings({ image: 'x', readyWithoutConfigAfterSeconds: 1.5 })).toThrow(/readyWithoutConfigAfterSeconds/);
    expect(() => parseInjectionSettings({})).toThrow(/image/);
  });
});

describe('sidecar limits and access log: chart values, pod annotations', () => {
  const tuned = parseInjectionSettings({
    ...settings,
    limits: { maxClientConnections: 50_000, headerTimeoutMs: 6000, idleTimeoutMs: 30_000, bodyTimeoutMs: 60_000, maxHeaderBytes: 32_768, maxHeaderCount: 200 },
    accessLog: 'refusals',
  });
  const withAnnotations = (annotations: Record<string, unknown>): Json => deploymentPod({ metadata: { annotations } });

  function inject(pod: Json, s: InjectionSettings = tuned): { env: Record<string, unknown>; warnings: string[] | undefined } {
    const r = review(request(pod), s);
    if (r.status !== 200 || r.patch.length === 0) throw new Error('not injected');
    return { env: envOf(sidecarOf(jsonPatch(pod, r.patch) as Json)), warnings: r.body.response.warnings };
  }

  it("the settings' defaults are the engine's own, and the sidecar's flag parser reads the injected env back as given", () => {
    const d = parseInjectionSettings({ image: 'x:1' });
    expect(d.accessLog).toBe('off');
    expect(d.limits).toEqual({
      maxClientConnections: DEFAULT_LIMITS.maxConnections,
      headerTimeoutMs: DEFAULT_LIMITS.headerTimeoutMs,
      idleTimeoutMs: DEFAULT_LIMITS.idleTimeoutMs,
      bodyTimeoutMs: DEFAULT_LIMITS.bodyTimeoutMs,
      maxHeaderBytes: DEFAULT_LIMITS.maxHeadBytes,
      maxHeaderCount: DEFAULT_LIMITS.maxHeaderCount,
    });
    for (const s of [settings, tuned]) {
      const { env } = inject(deploymentPod(), s);
      const opts = parseSidecarFlags([], Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string')))!;
      expect(opts).toEqual(expect.objectContaining({ ...s.limits, accessLog: s.accessLog }));
    }
  });

  it("the chart's values go into every injected sidecar's env", () => {
    const { env, warnings } = inject(deploymentPod());
    expect(warnings).toBeUndefined();
    expect(env).toEqual(
      expect.objectContaining({
        SPILLWAY_MAX_CLIENT_CONNECTIONS: '50000',
        SPILLWAY_HEADER_TIMEOUT_MS: '6000',
        SPILLWAY_IDLE_TIMEOUT_MS: '30000',
        SPILLWAY_BODY_TIMEOUT_MS: '60000',
        SPILLWAY_MAX_HEADER_BYTES: '32768',
        SPILLWAY_MAX_HEADER_COUNT: '200',
        SPILLWAY_ACCESS_LOG: 'refusals',
      }),
    );
  });

  it('a pod annotation spillway.io/<flag> overrides that value for the pod only', () => {
    const { env, warnings } = inject(
      withAnnotations({ 'spillway.io/max-client-connections': '20000', 'spillway.io/body-timeout-ms': '1000', 'spillway.io/max-header-count': '10000', 'spillway.io/access-log': 'all' }),
    );
    expect(warnings).toBeUndefined();
    expect(env).toEqual(
      expect.objectContaining({
        SPILLWAY_MAX_CLIENT_CONNECTIONS: '20000',
        SPILLWAY_BODY_TIMEOUT_MS: '1000',
        SPILLWAY_MAX_HEADER_COUNT: '10000',
        SPILLWAY_ACCESS_LOG: 'all',
        // Not annotated: the installation's.
        SPILLWAY_HEADER_TIMEOUT_MS: '6000',
        SPILLWAY_IDLE_TIMEOUT_MS: '30000',
        SPILLWAY_MAX_HEADER_BYTES: '32768',
      }),
    );
    // Each limit has its annotation, at both of its bounds.
    for (const spec of Object.values(SIDECAR_LIMITS)) {
      for (const value of [spec.min, spec.max]) {
        const r = inject(withAnnotations({ [`spillway.io/${spec.flag}`]: String(value) }));
        expect(r.warnings).toBeUndefined();
        expect(r.env[spec.env]).toBe(String(value));
      }
    }
  });

  it('an invalid annotation is ignored with a warning naming it: the pod is still injected, with the installation value', () => {
    const bad = ['', 'abc', '0', '-5', '1e4', '20000.5', ' 20000', '0x10', '1000001', '99999999999999999999', 'x'.repeat(10_000)];
    for (const value of bad) {
      const { env, warnings } = inject(withAnnotations({ 'spillway.io/max-client-connections': value }));
      expect(env.SPILLWAY_MAX_CLIENT_CONNECTIONS).toBe('50000');
      expect(warnings).toEqual([expect.stringMatching(/^spillway: annotation spillway.io\/max-client-connections: ".*" is not an integer in 1..1000000; using 50000$/)]);
      // The pod's author controls the value: it is cut in the warning.
      expect(warnings![0].length).toBeLessThan(200);
    }
    const { env, warnings } = inject(
      withAnnotations({ 'spillway.io/header-timeout-ms': '99', 'spillway.io/max-header-bytes': '1023', 'spillway.io/access-log': 'verbose', 'spillway.io/idle-timeout-ms': '7000' }),
    );
    expect(warnings).toEqual([
      'spillway: annotation spillway.io/header-timeout-ms: "99" is not an integer in 100..600000; using 6000',
      'spillway: annotation spillway.io/max-header-bytes: "1023" is not an integer in 1024..1048576; using 32768',
      'spillway: annotation spillway.io/access-log: "verbose" is not one of off, refusals, all; using refusals',
    ]);
    expect(env).toEqual(
      expect.objectContaining({ SPILLWAY_HEADER_TIMEOUT_MS: '6000', SPILLWAY_MAX_HEADER_BYTES: '32768', SPILLWAY_ACCESS_LOG: 'refusals', SPILLWAY_IDLE_TIMEOUT_MS: '7000' }),
    );
    // Not a string (a client that skipped the API server's typing): the same, never a crash.
    const odd = inject(withAnnotations({ 'spillway.io/max-header-count': 50, 'spillway.io/access-log': { all: true } }));
    expect(odd.env).toEqual(expect.objectContaining({ SPILLWAY_MAX_HEADER_COUNT: '200', SPILLWAY_ACCESS_LOG: 'refusals' }));
    expect(odd.warnings).toHaveLength(2);
  });

  it('settings: limits and accessLog are bounded like the flags, strictly', () => {
    for (const spec of Object.entries(SIDECAR_LIMITS)) {
      const [key, { min, max }] = spec;
      expect(parseInjectionSettings({ image: 'x', limits: { [key]: min } }).limits[key as keyof typeof SIDECAR_LIMITS]).toBe(min);
      expect(parseInjectionSettings({ image: 'x', limits: { [key]: max } }).limits[key as keyof typeof SIDECAR_LIMITS]).toBe(max);
      for (const bad of [min - 1, max + 1, min + 0.5, String(min), null]) {
        expect(() => parseInjectionSettings({ image: 'x', limits: { [key]: bad } })).toThrow(new RegExp(`limits\\.${key}`));
      }
    }
    expect(() => parseInjectionSettings({ image: 'x', limits: { maxClientConnection: 5 } })).toThrow(/limits/);
    expect(() => parseInjectionSettings({ image: 'x', limits: [] })).toThrow(/limits/);
    expect(() => parseInjectionSettings({ image: 'x', accessLog: 'verbose' })).toThrow(/accessLog/);
    expect(() => parseInjectionSettings({ image: 'x', accessLog: false })).toThrow(/accessLog/);
  });
});

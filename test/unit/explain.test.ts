/**
 * `spillway explain`: every field of the answer, Cluster division exactly as the sidecar does
 * it, why earlier classes did not match, the --json shape, and the refusals of bad input.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, effectiveLimit, extraRank } from '../../api/compile.js';
import { validateManifests } from '../../api/validate.js';
import type { TrafficPolicy } from '../../api/policy.js';
import { explain } from '../../sidecar/explain-command.js';
import { explainRequest, formatExplained, parseHeaders, parseRequestLine, type RequestSpec } from '../../sidecar/explain.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'chat-policy.yaml');
const policy = validateManifests(readFileSync(EXAMPLE, 'utf8'))[0].policy as TrafficPolicy;

const req = (method: string, target: string, headers: Record<string, string> = {}, websocket = false): RequestSpec => ({ method, target, headers, websocket });
const one = { replicas: 1, podName: null };

function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = explain(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('explainRequest', () => {
  it('names the class, the winning matcher and each field the sidecar enforces', () => {
    const x = explainRequest(policy, req('POST', '/messages/42?draft=1', { 'content-type': 'application/json' }), one);
    expect(x).toEqual({
      version: 2,
      policy: 'talk/chat',
      request: { method: 'POST', target: '/messages/42?draft=1', path: '/messages/42', query: { draft: '1' }, headers: { 'content-type': 'application/json' }, websocket: false },
      class: { index: 2, name: 'send-message', field: 'spec.classes[2]', priority: 90 },
      matched: { matcher: 0, field: 'spec.classes[2].match[0]', match: { method: 'POST', pathPrefix: '/messages' } },
      notMatched: [
        { class: 'background-login', field: 'spec.classes[0].match[0]', failed: 'path', name: null, want: '/login', got: '/messages/42' },
        { class: 'login', field: 'spec.classes[1].match[0]', failed: 'path', name: null, want: '/login', got: '/messages/42' },
      ],
      limit: { scope: 'Pod', policy: 200, replicas: 1, base: 200, extra: 0, podName: null, rank: null, pod: 200 },
      queue: { size: 200, timeoutMs: 250 },
      timeoutMs: 5000,
      rejectStatus: 503,
      shed: { atLevel: null, utilisation: null },
      affectsLoadLevel: true,
    });
  });

  it('says why each earlier class failed: header value, method, query, websocket', () => {
    const x = explainRequest(policy, req('GET', '/socket.io/?EIO=4&transport=websocket', { upgrade: 'websocket', connection: 'Upgrade' }, true), one);
    expect(x.class.name).toBe('websocket');
    expect(x.notMatched.map((m) => [m.class, m.failed, m.name, m.want, m.got])).toEqual([
      ['background-login', 'method', null, 'POST', 'GET'],
      ['login', 'method', null, 'POST', 'GET'],
      ['send-message', 'method', null, 'POST', 'GET'],
      // The path as the classifier compares it: pathMatching's defaults drop the trailing slash.
      ['sync', 'pathPrefix', null, '/sync', '/socket.io'],
      ['long-poll', 'query', 'transport', 'polling', 'websocket'],
    ]);
    const lines = formatExplained(x);
    expect(lines).toContain('              long-poll spec.classes[4].match[0]: query parameter transport is "websocket", not "polling"');
    const login = explainRequest(policy, req('POST', '/login', { 'x-login-kind': 'foreground' }), one);
    expect(login.notMatched[0]).toMatchObject({ failed: 'headers', name: 'x-login-kind', want: 'background', got: 'foreground' });
    expect(formatExplained(login)[4]).toBe('not matched   background-login spec.classes[0].match[0]: header x-login-kind is "foreground", not "background"');
  });

  it('falls through to the default class with every matcher listed', () => {
    const x = explainRequest(policy, req('DELETE', '/account'), one);
    expect(x.class).toEqual({ index: 6, name: 'default', field: 'spec.defaultClass', priority: 50 });
    expect(x.matched).toBeNull();
    expect(x.notMatched).toHaveLength(6);
    expect(x.queue).toEqual({ size: 0, timeoutMs: null });
    expect(x.timeoutMs).toBeNull();
    expect(formatExplained(x)).toEqual(expect.arrayContaining(['matched       no class matched: the default class takes the rest', 'queue         none (refused at once when the limit is reached)', 'timeout       none']));
  });

  it('divides a Cluster limit as the operator and sidecar do: the first ready pods by name take the remainder', () => {
    const bg = req('POST', '/login', { 'x-login-kind': 'background' });
    const pods = ['chat-7d9f-fghij', 'chat-7d9f-abcde', 'chat-2'];
    const config = compile(policy, 3, { readyPods: pods });
    const compiled = config.classes[0];
    expect(config.extraPods).toEqual(['chat-2', 'chat-7d9f-abcde']);
    for (const pod of [...pods, 'chat-9']) {
      const x = explainRequest(policy, bg, { replicas: 3, podName: pod, readyPods: pods });
      const rank = extraRank(config, pod);
      expect(x.limit).toEqual({ scope: 'Cluster', policy: 20, replicas: 3, base: 6, extra: 2, podName: pod, rank, pod: effectiveLimit(compiled, rank) });
    }
    // The ready pods add up to the declared limit; a pod not among them (ready since) takes the base.
    expect(pods.reduce((sum, pod) => sum + (explainRequest(policy, bg, { replicas: 3, podName: pod, readyPods: pods }).limit.pod ?? 0), 0)).toBe(20);
    const lines = (podName: string | null, readyPods: string[] | null) => formatExplained(explainRequest(policy, bg, { replicas: 3, podName, readyPods }));
    expect(lines('chat-2', pods)).toContain('pod limit     7 (Cluster scope: 20 over 3 replicas: 7 in the first 2 ready pods by name, 6 in the others; chat-2 is number 1 by name)');
    expect(lines('chat-9', pods)).toContain('pod limit     6 (Cluster scope: 20 over 3 replicas: 7 in the first 2 ready pods by name, 6 in the others; chat-9 is not among the first 2)');
    // Without the ready pods' names the answer is the range.
    expect(explainRequest(policy, bg, { replicas: 3, podName: 'chat-2' }).limit).toMatchObject({ pod: null, rank: null });
    expect(lines(null, null)).toContain(
      "pod limit     6 or 7 (Cluster scope: 20 over 3 replicas: 7 in the first 2 ready pods by name, 6 in the others; --pod-name and --pods give a pod's)",
    );
    expect(lines('chat-2', null)).toContain(
      "pod limit     6 or 7 (Cluster scope: 20 over 3 replicas: 7 in the first 2 ready pods by name, 6 in the others; --pods (the ready pods' names) gives chat-2's)",
    );
    // More replicas than the limit: 1 each, and it says so.
    expect(explainRequest(policy, bg, { replicas: 50, podName: null }).limit).toMatchObject({ base: 1, extra: 0, pod: 1 });
    expect(formatExplained(explainRequest(policy, bg, { replicas: 50, podName: null }))).toContain(
      'pod limit     1 (Cluster scope: 20 over 50 replicas: never below 1 per pod, so 50 in all, more than the limit)',
    );
    expect(explainRequest(policy, bg, { replicas: 4, podName: null }).limit).toMatchObject({ base: 5, extra: 0, pod: 5 });
  });

  it('classifies the normalised path as the sidecar does (pathMatching defaults: any case, trailing slash ignored)', () => {
    const spellings: Array<[string, string]> = [
      ['/LOGIN/', '/LOGIN/'],
      ['//login', '/login'],
      ['/./login', '/login'],
      ['/a/../Login', '/Login'],
      ['/%6Cogin', '/login'],
    ];
    for (const [target, path] of spellings) {
      const x = explainRequest(policy, req('POST', target, { 'x-login-kind': 'background' }), one);
      expect([target, x.class.name, x.request.path]).toEqual([target, 'background-login', path]);
    }
    const lines = formatExplained(explainRequest(policy, req('POST', '//login', { 'x-login-kind': 'background' }), one));
    expect(lines).toContain('normalised    path /login (what the sidecar classifies and the app receives)');
    const strict: TrafficPolicy = { ...policy, spec: { ...policy.spec, pathMatching: { caseSensitive: true, trailingSlash: 'Strict' } } };
    expect(explainRequest(strict, req('POST', '/LOGIN', { 'x-login-kind': 'background' }), one).class.name).toBe('default');
    expect(explainRequest(strict, req('POST', '/login/', { 'x-login-kind': 'background' }), one).class.name).toBe('default');
  });

  it('reports the load level that sheds a class, with its utilisation threshold', () => {
    const x = explainRequest(policy, req('POST', '/login', { 'x-login-kind': 'background' }), one);
    expect(x.shed).toEqual({ atLevel: 1, utilisation: 0.7 });
    expect(explainRequest(policy, req('GET', '/sync'), one).shed).toEqual({ atLevel: 3, utilisation: 0.95 });
    expect(formatExplained(x)).toContain('shed at       load level 1 (pod utilisation ≥ 0.7)');
  });
});

describe('request and header parsing', () => {
  it('takes origin-form targets with a query string, upper-case methods only', () => {
    expect(parseRequestLine('GET /socket.io/?transport=polling')).toEqual({ ok: true, value: { method: 'GET', target: '/socket.io/?transport=polling' } });
    expect(parseRequestLine('post /login')).toMatchObject({ ok: false, error: expect.stringContaining('unknown method') });
    expect(parseRequestLine('GET http://x/login')).toMatchObject({ ok: false, error: expect.stringContaining('must start with "/"') });
    expect(parseRequestLine('/login')).toMatchObject({ ok: false });
    expect(parseRequestLine('GET /lo\u0001gin')).toMatchObject({ ok: false, error: expect.stringContaining('percent-encode') });
    expect(parseRequestLine('GET /café')).toMatchObject({ ok: false });
    expect(parseRequestLine(`GET /${'a'.repeat(9000)}`)).toMatchObject({ ok: false, error: expect.stringContaining('longer than') });
    for (const t of ['/%2e%2e/login', '/../login', '/login;x', '/login#f', '/a%2Fb', '/a\\b', '/%zz']) {
      expect(parseRequestLine(`POST ${t}`)).toMatchObject({ ok: false, error: expect.stringContaining('refuses this target with 400') });
    }
  });

  it('lower-cases names, trims values, joins repeats, refuses malformed fields', () => {
    expect(parseHeaders(['X-Login-Kind:  background ', 'x-login-kind: foreground'])).toEqual({ ok: true, value: { 'x-login-kind': 'background, foreground' } });
    expect(parseHeaders(['x-empty:'])).toEqual({ ok: true, value: { 'x-empty': '' } });
    expect(parseHeaders(['no colon'])).toMatchObject({ ok: false });
    expect(parseHeaders(['bad name: x'])).toMatchObject({ ok: false });
    expect(parseHeaders(['x: a\nb'])).toMatchObject({ ok: false });
    // A hostile name is only a name: no prototype is touched.
    const proto = parseHeaders(['__proto__: x', 'constructor: y']);
    expect(proto.ok && Object.entries(proto.value)).toEqual([['__proto__', 'x'], ['constructor', 'y']]);
    expect(parseHeaders(Array.from({ length: 101 }, (_, i) => `h${i}: v`))).toMatchObject({ ok: false, error: expect.stringContaining('more than 100') });
  });
});

describe('the explain command', () => {
  it('prints a stable JSON object with --json', () => {
    const r = run([EXAMPLE, '--request', 'GET /chat', '--websocket', '--json', '--replicas', '2', '--pod-name', 'chat-0']);
    expect(r.code).toBe(0);
    const x = JSON.parse(r.out);
    expect(Object.keys(x)).toEqual(['version', 'policy', 'request', 'class', 'matched', 'notMatched', 'limit', 'queue', 'timeoutMs', 'rejectStatus', 'shed', 'affectsLoadLevel']);
    expect(x.request).toEqual({ method: 'GET', target: '/chat', path: '/chat', query: {}, headers: { upgrade: 'websocket', connection: 'Upgrade' }, websocket: true });
    expect(x.class.name).toBe('websocket');
    expect(x.limit).toMatchObject({ replicas: 2, podName: 'chat-0', rank: null, pod: 200 });
  });

  it('--pods gives the ready pods: replicas default to their count, the pod named gets its exact limit', () => {
    const args = [EXAMPLE, '--request', 'POST /login', '--header', 'x-login-kind: background', '--json'];
    const x = JSON.parse(run([...args, '--pods', 'chat-c,chat-a,chat-b', '--pod-name', 'chat-a']).out);
    expect(x.limit).toEqual({ scope: 'Cluster', policy: 20, replicas: 3, base: 6, extra: 2, podName: 'chat-a', rank: 0, pod: 7 });
    expect(JSON.parse(run([...args, '--pods', 'chat-c,chat-a,chat-b', '--pod-name', 'chat-c']).out).limit).toMatchObject({ rank: -1, pod: 6 });
    expect(JSON.parse(run([...args, '--pods', 'chat-c,chat-a', '--replicas', '3', '--pod-name', 'chat-c']).out).limit).toMatchObject({ replicas: 3, rank: 1, pod: 7 });
    expect(run([...args, '--pods', 'chat-a,Bad_Pod'])).toMatchObject({ code: 2, err: expect.stringContaining('--pods: not a pod name') });
    expect(run([...args, '--pods', 'chat-a,chat-a'])).toMatchObject({ code: 2, err: expect.stringContaining('given twice') });
    expect(run([...args, '--pods', 'chat-a,,chat-b'])).toMatchObject({ code: 2 });
  });

  it('treats Connection: Upgrade with an Upgrade header as the sidecar does', () => {
    const r = run([EXAMPLE, '--request', 'GET /chat', '--header', 'Upgrade: websocket', '--header', 'Connection: keep-alive, Upgrade', '--json']);
    expect(JSON.parse(r.out).class.name).toBe('websocket');
  });

  it('exits 2 on usage errors, 1 on an invalid or missing policy', () => {
    expect(run([EXAMPLE])).toMatchObject({ code: 2, err: expect.stringContaining('--request is required') });
    expect(run(['--request', 'GET /'])).toMatchObject({ code: 2, err: expect.stringContaining('no file given') });
    expect(run([EXAMPLE, '--request', 'GET /', '--replicas', '0'])).toMatchObject({ code: 2, err: expect.stringContaining('--replicas') });
    expect(run([EXAMPLE, '--request', 'GET /', '--replicas', '1e3'])).toMatchObject({ code: 2 });
    expect(run([EXAMPLE, '--request', 'GET /', '--pod-name', 'Not_A_Pod'])).toMatchObject({ code: 2, err: expect.stringContaining('--pod-name') });
    expect(run([EXAMPLE, '--request', 'POST /', '--websocket'])).toMatchObject({ code: 2, err: expect.stringContaining('GET') });
    expect(run([EXAMPLE, '--request', 'GET /', '--verbose'])).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--verbose'") });
    expect(run([EXAMPLE, '--request', 'GET /', '--header', 'nope'])).toMatchObject({ code: 2 });
    expect(run([join(ROOT, 'missing.yaml'), '--request', 'GET /'])).toMatchObject({ code: 1, err: expect.stringContaining('cannot read: ENOENT') });
    expect(run([join(ROOT, 'package.json'), '--request', 'GET /'])).toMatchObject({ code: 1, err: expect.stringContaining('no TrafficPolicy found') });
    expect(run(['--help'])).toMatchObject({ code: 0, out: expect.stringMatching(/^Usage: spillway explain FILE/) });
  });
});

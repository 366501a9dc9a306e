/**
 * `spillway explain` as a user runs it: the built CLI under both its names, its exit codes and
 * its two output forms. Needs `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function cli(bin: 'spillway.js' | 'kubectl-spillway', args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', bin), ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('spillway explain', () => {
  let dir: string;
  const example = readFileSync(join(ROOT, 'examples', 'chat-policy.yaml'), 'utf8');

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'spillway-explain-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 with aligned lines naming the class, the matcher and why the earlier class did not match', () => {
    const r = cli('spillway.js', ['explain', 'examples/chat-policy.yaml', '--request', 'POST /login?next=%2F', '--header', 'X-Login-Kind: foreground', '--replicas', '3', '--pod-name', 'chat-0']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'policy        talk/chat',
      'request       POST /login?next=%2F with x-login-kind: foreground',
      'class         login (spec.classes[1], priority 60)',
      'matched       spec.classes[1].match[0]: method POST, path /login',
      'not matched   background-login spec.classes[0].match[0]: header x-login-kind is "foreground", not "background"',
      'pod limit     60 (Pod scope: in each pod)',
      'queue         50 places, 500 ms timeout',
      'timeout       3000 ms (then 504)',
      'refused with  503',
      'shed at       never by load level (only when the limit and queue are full)',
    ]);
  });

  it('normalises the target and compares paths as the sidecar does: POST /LOGIN/ is in the login class; /%2e%2e/login is refused', () => {
    const r = cli('spillway.js', ['explain', 'examples/chat-policy.yaml', '--request', 'POST //x/../LOGIN/', '--header', 'X-Login-Kind: foreground']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.split('\n').slice(1, 4)).toEqual([
      'request       POST //x/../LOGIN/ with x-login-kind: foreground',
      'normalised    path /LOGIN/ (what the sidecar classifies and the app receives)',
      'class         login (spec.classes[1], priority 60)',
    ]);
    expect(cli('spillway.js', ['explain', 'examples/chat-policy.yaml', '--request', 'POST /LOGIN/']).stdout).toContain('class         login (spec.classes[1], priority 60)');
    const refused = cli('spillway.js', ['explain', 'examples/chat-policy.yaml', '--request', 'POST /%2e%2e/login']);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toContain('the sidecar refuses this target with 400');
  });

  it('prints JSON with --json, reads stdin for "-", and answers as kubectl spillway', () => {
    const r = cli('kubectl-spillway', ['explain', '-', '--request', 'POST /login', '--header', 'x-login-kind: background', '--replicas', '3', '--pod-name', 'chat-1', '--json'], example);
    expect(r.code).toBe(0);
    const x = JSON.parse(r.stdout);
    expect(x).toMatchObject({ version: 2, class: { name: 'background-login' }, limit: { scope: 'Cluster', policy: 20, replicas: 3, podName: 'chat-1' }, shed: { atLevel: 1 } });
    expect(cli('kubectl-spillway', ['explain', '--help']).stdout).toMatch(/^Usage: kubectl spillway explain FILE/);
    expect(cli('spillway.js', ['--help']).stdout).toContain('explain ');
  });

  it('exits 1 with the validate problems when the file is not a valid policy', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, example.replace('concurrency: { limit: 5000, scope: Pod }', 'concurrency: { limit: 0, scope: Pod }'));
    const r = cli('spillway.js', ['explain', bad, '--request', 'GET /']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe(`${bad}: document 1: TrafficPolicy talk/chat: invalid\n  spec.classes[4].concurrency.limit: Too small: expected number to be >=1\n`);
    expect(cli('spillway.js', ['explain', join(dir, 'missing.yaml'), '--request', 'GET /'])).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot read: ENOENT') });
  });

  it('exits 2 on usage errors', () => {
    expect(cli('spillway.js', ['explain', 'examples/chat-policy.yaml'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--request is required') });
    expect(cli('spillway.js', ['explain', 'examples/chat-policy.yaml', '--request', 'FETCH /'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown method') });
    expect(cli('spillway.js', ['explain', 'examples/chat-policy.yaml', '--request', 'GET /', '--replicas', 'x'])).toMatchObject({ code: 2 });
    expect(cli('kubectl-spillway', ['explain', '--bogus'])).toMatchObject({ code: 2, stderr: expect.stringContaining('kubectl spillway explain') });
  });
});

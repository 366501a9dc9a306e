/**
 * tools/test-deps.sh, the one list of what the test suite runs, against a PATH of stand-ins: a
 * tool is "installed" when a stub of that name is on PATH, `id` and `apt-get` are stubs that
 * report and record. Also that `npm test` and .ci/run go through it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/helm.js';

const SCRIPT = join(REPO_ROOT, 'tools', 'test-deps.sh');
/** The commands the script looks for, and the Debian package of each. */
const TOOLS: Record<string, string> = {
  'redis-server': 'redis-server',
  'redis-sentinel': 'redis-sentinel',
  openssl: 'openssl',
  haproxy: 'haproxy',
  nginx: 'nginx-light',
  promtool: 'prometheus',
  cc: 'gcc',
  unzip: 'unzip',
  wrk: 'wrk',
  curl: 'curl',
};

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spillway-test-deps-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function stub(name: string, body = 'exit 0'): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

/** Runs the script with only the stubs on PATH: `present` tools, kubectl unless left out, as `uid`. */
function run(present: string[], uid: number, kubectl = true): { status: number | null; stderr: string; aptCalls: string[] } {
  for (const tool of present) stub(tool);
  if (kubectl) stub('kubectl');
  stub('id', `echo ${uid}`);
  const log = join(dir, 'apt-get.log');
  stub('apt-get', `echo "$*" >> ${log}`);
  const r = spawnSync('/bin/sh', [SCRIPT], { env: { PATH: dir }, encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr, aptCalls: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [] };
}

describe('tools/test-deps.sh', () => {
  // The librdkafka header is looked for at its Debian path, which this machine has.
  it('is silent and succeeds when everything is there', () => {
    expect(run(Object.keys(TOOLS), 1000)).toEqual({ status: 0, stderr: '', aptCalls: [] });
  });

  it('not root: prints the exact apt-get line for what is missing, installs nothing, exits 1', () => {
    const r = run(Object.keys(TOOLS).filter((t) => t !== 'redis-sentinel' && t !== 'promtool' && t !== 'cc'), 1000);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('sudo apt-get update && sudo apt-get install -y --no-install-recommends redis-sentinel prometheus gcc\n');
    expect(r.aptCalls).toEqual([]);
  });

  it('as root: apt-get installs exactly the missing packages', () => {
    const r = run(['redis-server', 'haproxy', 'unzip'], 0);
    expect(r.status).toBe(0);
    const missing = Object.keys(TOOLS)
      .filter((t) => !['redis-server', 'haproxy', 'unzip'].includes(t))
      .map((t) => TOOLS[t]);
    expect(r.aptCalls).toEqual(['update -qq', `install -y -qq --no-install-recommends ${missing.join(' ')}`]);
  });

  it('kubectl (not a Debian package) missing: says so and fails', () => {
    const r = run(Object.keys(TOOLS), 0, false);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/kubectl not found/);
    expect(r.aptCalls).toEqual([]);
  });

  it('is what `npm test` runs first, and .ci/run runs `npm test` with no list of its own', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toBe('sh tools/test-deps.sh');
    const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
    expect(ci).not.toMatch(/apt-get|redis-server|haproxy/);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/^npm ci && npm run demo\b/m);
    expect(readme).toMatch(/^npm test\b/m);
  });
});

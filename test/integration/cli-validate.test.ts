/**
 * `spillway validate FILE…` as a user (or CI, or a pre-commit hook) runs it: the built CLI,
 * under both its names, on files with one or several documents. Needs `npm run build`.
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

describe('spillway validate', () => {
  let dir: string;
  const example = readFileSync(join(ROOT, 'examples', 'chat-policy.yaml'), 'utf8');
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'spillway-validate-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 on valid files, every document named', () => {
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: chat}\n';
    const both = file('both.yaml', `${deployment}---\n${example}`);
    const r = cli('spillway.js', ['validate', 'examples/chat-policy.yaml', both]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'examples/chat-policy.yaml: document 1: TrafficPolicy talk/chat: valid',
        `${both}: document 1: apps/v1 Deployment: skipped (not a TrafficPolicy)`,
        `${both}: document 2: TrafficPolicy talk/chat: valid`,
        '',
      ].join('\n'),
    });
  });

  it('exits 1 and prints each problem with its exact field path', () => {
    const bad = file(
      'bad.yaml',
      example
        .replace('concurrency: { limit: 5000, scope: Pod }', 'concurrency: { limit: 0, scope: Pod }')
        .replace('thresholds: [0.70, 0.85, 0.95]', 'thresholds: [0.95, 0.85, 0.70]'),
    );
    expect(readFileSync(bad, 'utf8')).not.toBe(example);
    const r = cli('spillway.js', ['validate', 'examples/chat-policy.yaml', bad]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('examples/chat-policy.yaml: document 1: TrafficPolicy talk/chat: valid');
    expect(lines[1]).toBe(`${bad}: document 1: TrafficPolicy talk/chat: invalid`);
    expect(lines.slice(2)).toEqual([
      '  spec.loadLevels.thresholds: thresholds must be strictly ascending',
      '  spec.classes[4].concurrency.limit: Too small: expected number to be >=1',
    ]);
  });

  it('exits 1 on a file without a policy, an unreadable file, or broken YAML; 2 on a usage error', () => {
    expect(cli('spillway.js', ['validate', file('none.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n')])).toMatchObject({ code: 1, stderr: expect.stringContaining('no TrafficPolicy found') });
    expect(cli('spillway.js', ['validate', join(dir, 'missing.yaml')])).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot read: ENOENT') });
    expect(cli('spillway.js', ['validate', dir])).toMatchObject({ code: 1, stderr: expect.stringContaining('not a regular file') });
    expect(cli('spillway.js', ['validate', file('broken.yaml', 'kind: TrafficPolicy\nspec: [\n')])).toMatchObject({ code: 1, stdout: expect.stringContaining('document 1: YAML: invalid') });
    expect(cli('spillway.js', ['validate'])).toMatchObject({ code: 2, stderr: expect.stringContaining('no file given') });
    expect(cli('spillway.js', ['validate', '--strict', 'x.yaml'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown flag --strict') });
  });

  it('reads stdin for "-", and answers as kubectl spillway under the plugin name', () => {
    expect(cli('kubectl-spillway', ['validate', '-'], example)).toMatchObject({ code: 0, stdout: '-: document 1: TrafficPolicy talk/chat: valid\n' });
    expect(cli('kubectl-spillway', ['validate', '--help']).stdout).toMatch(/^Usage: kubectl spillway validate FILE/);
    expect(cli('spillway.js', ['--help']).stdout).toMatch(/^Usage: spillway <command>/);
  });
});

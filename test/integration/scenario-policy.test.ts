/**
 * `npm run scenario -- <name> --policy FILE` through the built CLI: the scenario's own policy,
 * given back as a user's file, passes as the default does and the verdict records the file;
 * an invalid file, or one the scenario cannot use, is refused with exit 2 before anything runs.
 * Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chatPolicy } from '../../e2e/scenarios/chat-workload.js';

const ROOT = process.cwd();
const MAIN = join(ROOT, 'dist', 'e2e', 'scenarios', 'main.js');

function scenario(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run scenario -- --policy FILE', () => {
  let dir: string;
  const file = (name: string, spec: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, stringify({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'chat', namespace: 'mine' }, spec }));
    return p;
  };

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npm run build first`);
    dir = mkdtempSync(join(tmpdir(), 'spillway-scenario-policy-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('earthquake with a copy of its own policy passes like the default, and the verdict names the file and its hash', async () => {
    const policy = file('earthquake.yaml', chatPolicy());
    const out = join(dir, 'out');
    let r = await scenario(['earthquake', '--quick', '--modes', 'spillway', '--out', out, '--policy', policy]);
    if (r.code !== 0) {
      // As scenarios-quick.test.ts: one more try on a starved shared machine.
      process.stderr.write(`earthquake --policy failed once, running it again:\n${r.stdout.split('\n').slice(-14).join('\n')}\n`);
      r = await scenario(['earthquake', '--quick', '--modes', 'spillway', '--out', out, '--policy', policy]);
    }
    const summary = JSON.parse(readFileSync(join(out, 'earthquake.json'), 'utf8'));
    expect(summary.modes[0].criteria.filter((c: { pass: boolean }) => !c.pass)).toEqual([]);
    expect(summary).toMatchObject({ pass: true, userPolicy: { path: policy, sha256: createHash('sha256').update(readFileSync(policy)).digest('hex') } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Spillway with ${policy}`);
    expect(existsSync(join(out, 'earthquake.png'))).toBe(true);
  }, 200_000);

  it('refuses an invalid policy with exit 2 and the field path, before running anything', async () => {
    const spec = chatPolicy();
    spec.classes![2].concurrency = { limit: 0, scope: 'Pod' };
    const r = await scenario(['earthquake', '--quick', '--policy', file('bad.yaml', spec)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('spec.classes[2].concurrency.limit: Too small: expected number to be >=1');
    expect(r.stdout).toBe('');
    expect(await scenario(['earthquake', '--policy', join(dir, 'missing.yaml')])).toMatchObject({ code: 2, stderr: expect.stringContaining('cannot read: ENOENT') });
    expect(await scenario(['earthquake', '--policy'])).toMatchObject({ code: 2 });
  });

  it('refuses a policy the scenario cannot use, saying what the scenario needs', async () => {
    const chat = file('chat.yaml', chatPolicy());
    const vendor = await scenario(['vendor-brownout', '--policy', chat]);
    expect(vendor.code).toBe(2);
    expect(vendor.stderr).toContain('vendor-brownout: needs a route named push: the scenario sends to /push/send on the egress port; it has no routes');
    const kafka = await scenario(['kafka-outage', '--policy', file('push.yaml', { targetRef: { name: 'relay' }, routes: [{ name: 'push', vendors: [{ name: 'a', url: 'http://a.example' }] }] })]);
    expect(kafka.code).toBe(2);
    expect(kafka.stderr).toContain('route push needs defer');
    expect(kafka.stderr).toContain('route push needs concurrency.limit');
    const pod = chatPolicy();
    pod.classes![0].concurrency = { limit: 20, scope: 'Pod' };
    const scale = await scenario(['scale-out', '--policy', file('pod.yaml', pod)]);
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain('they fall into background-login (spec.classes[0]), which is Pod-scoped');
  });
});

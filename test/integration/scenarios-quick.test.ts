/**
 * Every finished incident scenario, short (`--quick`) and Spillway only, through the built CLI
 * exactly as `npm run scenario` runs it: its JSON summary must say Spillway passed every
 * criterion. Quick mode's thresholds are the relaxed set documented in docs/scenarios.md, so
 * they hold on a busy 2-core machine; a failed scenario is run once more before the test fails.
 * About two minutes in all on a quiet machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = process.cwd();
const MAIN = join(ROOT, 'dist', 'e2e', 'scenarios', 'main.js');
const SCENARIOS = [
  'earthquake',
  'new-year',
  'world-cup',
  'vendor-brownout',
  'vendor-hang',
  'redis-outage',
  'kafka-outage',
  'scale-out',
  'operator-restart',
  'borrowing',
  'new-year-adaptive',
  'noisy-neighbour',
  'shadow',
];

interface Summary {
  name: string;
  pass: boolean;
  modes: Array<{ mode: string; criteria: Array<{ name: string; target: string; value: string; pass: boolean }> }>;
}

function runScenario(name: string, out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, name, '--quick', '--modes', 'spillway', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('incident scenarios, quick, Spillway', () => {
  let out: string;

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npm run build first (npm test does)`);
    out = mkdtempSync(join(tmpdir(), 'spillway-scenarios-'));
  });

  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it.each(SCENARIOS)('%s passes its criteria', async (name) => {
    let { code, output } = await runScenario(name, out);
    if (code !== 0) {
      // One more try: on a starved shared machine a whole run can stall (the load generator,
      // sidecar and app share two cores); a real regression fails the second run as well.
      process.stderr.write(`${name} failed once, running it again:\n${output.split('\n').slice(-14).join('\n')}\n`);
      ({ code, output } = await runScenario(name, out));
    }
    const file = join(out, `${name}.json`);
    if (!existsSync(file)) throw new Error(`${name} wrote no summary (exit ${code}):\n${output}`);
    const summary = JSON.parse(readFileSync(file, 'utf8')) as Summary;
    // Every Spillway run (shadow has two: Shadow, then Enforce). Failing criteria by name, so a
    // red run says which one and by how much.
    const spillway = summary.modes.filter((m) => m.mode === 'spillway');
    expect(spillway.length).toBeGreaterThan(0);
    expect(spillway.flatMap((m) => m.criteria.filter((c) => !c.pass))).toEqual([]);
    expect(summary.pass).toBe(true);
    expect(code).toBe(0);
    expect(existsSync(join(out, `${name}.png`))).toBe(true);
  }, 200_000);
});

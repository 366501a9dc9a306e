/**
 * `npm run scenario -- <name|all> [--quick] [--out DIR] [--modes none,haproxy,spillway] [--policy FILE]`
 * `npm run scenario -- --render DIR/<name>.json` redraws DIR/<name>.png from a saved summary.
 *
 * Replays an incident from the design brief against the demo apps, once per protection mode
 * where the scenario has them, prints a verdict table and writes DIR/<name>.json (each mode's
 * figures and criteria, top-level "pass" = Spillway's verdict) and DIR/<name>.png (the
 * timeline). Exits 1 when Spillway fails any scenario run. With --policy FILE the Spillway run
 * enforces the user's TrafficPolicy instead of the scenario's (user-policy.ts); a policy that is
 * invalid, or lacks what a scenario needs, is refused before anything starts (exit 2).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllChildrenNow, stopAllChildren } from '../apps/child-process.js';
import { repoRoot } from '../apps/launch.js';
import { renderChart } from './chart.js';
import { SCENARIOS } from './registry.js';
import { formatVerdict } from './report.js';
import type { Mode, ScenarioResult } from './types.js';
import { loadUserPolicy, type UserPolicy } from './user-policy.js';

const ALL_MODES: Mode[] = ['none', 'haproxy', 'spillway'];

function parseModes(raw: string | undefined): Mode[] {
  if (!raw) return ALL_MODES;
  const modes = raw.split(',').map((m) => m.trim());
  for (const m of modes) if (!ALL_MODES.includes(m as Mode)) throw new Error(`--modes: unknown mode ${m} (none, haproxy, spillway)`);
  return ALL_MODES.filter((m) => modes.includes(m));
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        out: { type: 'string' },
        modes: { type: 'string' },
        render: { type: 'string' },
        policy: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`npm run scenario: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.render) {
    // Redraw a picture from a saved summary (after a chart change), without running anything.
    const result = JSON.parse(readFileSync(values.render, 'utf8')) as ScenarioResult;
    writeFileSync(values.render.replace(/\.json$/, '.png'), renderChart(result));
    return 0;
  }
  const names = Object.keys(SCENARIOS);
  const wanted = positionals[0] === 'all' ? names : positionals;
  if (wanted.length === 0 || wanted.some((n) => !SCENARIOS[n])) {
    process.stderr.write(`usage: npm run scenario -- <${names.join('|')}|all> [--quick] [--out DIR] [--modes none,haproxy,spillway] [--policy FILE]\n`);
    return 2;
  }
  let policy: UserPolicy | null = null;
  if (values.policy !== undefined) {
    const loaded = loadUserPolicy(values.policy);
    if (!loaded.ok) {
      process.stderr.write(`--policy: refused\n${loaded.problems.join('\n')}\n`);
      return 2;
    }
    const spec = loaded.value.spec;
    policy = { ...loaded.value, path: values.policy === '-' ? '-' : resolve(values.policy) };
    const unfit = wanted.flatMap((n) => (SCENARIOS[n].policyNeeds?.(spec) ?? []).map((need) => `  ${n}: ${need}`));
    if (unfit.length > 0) {
      process.stderr.write(`--policy: ${values.policy} cannot drive ${unfit.length === 1 ? 'this scenario' : 'these scenarios'}:\n${unfit.join('\n')}\n`);
      return 2;
    }
  }
  const out = resolve(values.out ?? join(repoRoot(), '.tmp', 'scenarios'));
  mkdirSync(out, { recursive: true });
  const modes = parseModes(values.modes);

  const abort = new AbortController();
  process.once('SIGINT', () => {
    process.stdout.write('\ninterrupted: stopping children\n');
    abort.abort();
    void stopAllChildren().finally(() => process.exit(130));
  });
  process.once('exit', killAllChildrenNow);

  const results: ScenarioResult[] = [];
  for (const name of wanted) {
    const scenario = SCENARIOS[name];
    const workDir = mkdtempSync(join(tmpdir(), `spillway-scenario-${name}-`));
    process.stdout.write(`\n=== ${scenario.title}${values.quick ? ' (quick)' : ''}${policy ? `, Spillway with ${policy.path} (sha256 ${policy.sha256.slice(0, 12)})` : ''}\n`);
    try {
      const result = await scenario.run({
        quick: values.quick,
        modes,
        workDir,
        signal: abort.signal,
        log: (line) => process.stdout.write(`${line}\n`),
        policy,
      });
      if (policy !== null) result.userPolicy = { path: policy.path, sha256: policy.sha256 };
      writeFileSync(join(out, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
      writeFileSync(join(out, `${name}.png`), renderChart(result));
      process.stdout.write(`\n${formatVerdict(result)}\n  → ${join(out, `${name}.json`)}, ${join(out, `${name}.png`)}\n`);
      results.push(result);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  }
  if (results.length > 1) {
    process.stdout.write(`\nSpillway: ${results.map((r) => `${r.name} ${r.pass ? 'PASS' : 'FAIL'}`).join(', ')}\n`);
  }
  return results.every((r) => r.pass) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`scenario failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAllChildren();
    process.exit(1);
  },
);

/**
 * npm run bench -- <overhead|reject|protection|protection-open|ws-memory|egress-overhead|all> [--runs N] [--duration S] [--no-pin]
 * Prints each benchmark's table and writes bench/results/<name>.json.
 */
import { rmSync } from 'node:fs';
import type { BenchConfig } from './config.js';
import { egressOverhead } from './egress-overhead.js';
import { overhead } from './overhead.js';
import { HAVE_TASKSET, haveCommand, tempDir } from './procs.js';
import { protection } from './protection.js';
import { protectionOpen } from './protection-open.js';
import { reject } from './reject.js';
import { machine, print, save, type BenchReport } from './report.js';
import { BASELINE_NODE, BASELINE_ROOT, PROXY_NODE } from './targets.js';
import { wsMemory } from './ws-memory.js';

const BENCHES: Record<string, (cfg: BenchConfig) => Promise<BenchReport>> = {
  overhead,
  reject,
  protection,
  'protection-open': protectionOpen,
  'ws-memory': wsMemory,
  'egress-overhead': egressOverhead,
};

const USAGE = `usage: npm run bench -- <${Object.keys(BENCHES).join('|')}|all> [--runs N] [--duration SECONDS] [--no-pin]\n`;

function parseArgs(argv: string[]): { names: string[]; runs: number; duration: number; pin: boolean } {
  let runs = 2;
  let duration = 6;
  let pin = true;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--duration') duration = Number(argv[++i]);
    else if (a === '--no-pin') pin = false;
    else if (a === 'all') names.push(...Object.keys(BENCHES));
    else if (a in BENCHES) names.push(a);
    else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  if (names.length === 0) throw new Error(USAGE);
  if (!(runs >= 1) || !(duration >= 1)) throw new Error(`--runs and --duration must be ≥ 1\n${USAGE}`);
  return { names, runs, duration, pin };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const cmd of ['wrk', 'haproxy', 'nginx']) {
    if (!haveCommand(cmd)) throw new Error(`${cmd} is not installed (apt-get install -y wrk haproxy nginx)`);
  }
  const dir = tempDir('run');
  // Two cores: the proxy under test gets one, the upstream and the load generators the other.
  const pinned = args.pin && HAVE_TASKSET;
  const cfg: BenchConfig = {
    durationSec: args.duration,
    runs: args.runs,
    dir,
    proxyCpus: pinned ? '1' : undefined,
    loadCpus: pinned ? '0' : undefined,
  };
  const env = {
    ...machine(),
    proxyNode: PROXY_NODE.version,
    ...(BASELINE_ROOT ? { baselineNode: BASELINE_NODE.version } : {}),
    runs: args.runs,
    durationSec: args.duration,
    pinned: String(pinned),
  };
  process.stdout.write(`machine: ${JSON.stringify(env)}\n`);
  try {
    for (const name of args.names) {
      const t0 = Date.now();
      const report = await BENCHES[name](cfg);
      print(report);
      const file = save(report, { ...env, seconds: Math.round((Date.now() - t0) / 1000) });
      process.stdout.write(`(${Math.round((Date.now() - t0) / 1000)} s) → ${file}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});

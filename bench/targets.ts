/**
 * How each thing under test is started: the sidecar (the real `spillway sidecar` command with a
 * policy file), the bare Node proxy and the benchmark's own Node servers (as compiled scripts
 * next to this file, each its own process).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenLoopOptions, OpenLoopResult } from './open-loop.js';
import { freePort, NODE, nodeFromEnv, sleep, start, type NodeBinary, type Proc } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The package root, from bench/ (sources) or dist/bench/ (compiled). */
export const ROOT = resolve(HERE, existsSync(join(HERE, '..', 'package.json')) ? '..' : '../..');

/** A compiled benchmark script (bench/<name>.ts → dist/bench/<name>.js). */
export function script(name: string): string {
  const p = join(ROOT, 'dist', 'bench', `${name}.js`);
  if (!existsSync(p)) throw new Error(`${p} is missing: build first (npx tsc -p tsconfig.build.json)`);
  return p;
}

export interface SidecarOptions {
  dir: string;
  policyYaml: string;
  listen: number;
  upstreamPort: number;
  cpus?: string;
  /** Node flags before the script (e.g. --inspect=127.0.0.1:PORT for a forced GC). */
  nodeArgs?: string[];
  /** Another checkout's built tree (bin/ + dist/) to run instead of this one: a same-run A/B baseline. */
  root?: string;
}

/**
 * SPILLWAY_BENCH_SIDECAR_NODE_ARGS: extra Node flags for every sidecar the benchmarks start,
 * space-separated (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it under load).
 */
const EXTRA_NODE_ARGS = (process.env.SPILLWAY_BENCH_SIDECAR_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
/**
 * SPILLWAY_BENCH_BASELINE: a copy of an earlier build (its bin/, dist/, package.json and a
 * node_modules link); when set, the protection benchmarks also run it as "sidecar-baseline",
 * so a change is compared with what it replaces in the same run, under the same noise.
 */
export const BASELINE_ROOT = process.env.SPILLWAY_BENCH_BASELINE ?? '';
/**
 * SPILLWAY_BENCH_NODE: the node binary the proxies under test run on, the sidecar and the bare
 * Node proxy it is compared with (e.g. the image's Node from tools/lts-node.sh); default: the
 * harness's own. Load generators and upstreams stay on the harness's Node, so two runs differ
 * only in the proxies' Node.
 */
export const PROXY_NODE: NodeBinary = nodeFromEnv('SPILLWAY_BENCH_NODE', { path: NODE, version: process.version });
/**
 * SPILLWAY_BENCH_BASELINE_NODE: the node binary of the "sidecar-baseline" row (default:
 * PROXY_NODE). With SPILLWAY_BENCH_BASELINE pointing at this same build, one run compares the
 * sidecar on two Node releases under the same noise.
 */
export const BASELINE_NODE: NodeBinary = nodeFromEnv('SPILLWAY_BENCH_BASELINE_NODE', PROXY_NODE);

/** The policy file named by environment variable `name` (read once, so a wrong path fails before any benchmark starts). */
function policyFromEnv(name: string): string | null {
  const path = process.env[name];
  if (path === undefined || path === '') return null;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${name}=${path}: ${(e as Error).message}`);
  }
}

/**
 * SPILLWAY_BENCH_POLICY: a TrafficPolicy file the "sidecar" setups run with instead of the
 * benchmark's built-in policy (bench/policies.ts). It must fit the benchmark: overhead, reject and
 * ws-memory need what bench/policies/none.yaml has (a /hold+/shed class with one slot, a
 * websocket class, header-matching classes), protection and protection-open the budgets of
 * bench/policies/none-protection.yaml.
 */
const POLICY_A = policyFromEnv('SPILLWAY_BENCH_POLICY');
/**
 * SPILLWAY_BENCH_POLICY_B: when set, every benchmark that runs a sidecar also runs this same build
 * with this policy as "sidecar-b", in the same run: an A/B of policy features (e.g. none of them
 * against all of them) under the same noise.
 */
export const POLICY_B = policyFromEnv('SPILLWAY_BENCH_POLICY_B');

/** Issue 11: policy features cost ≤ 5 % CPU per request against the same build without them (sidecar-b / sidecar). */
export const POLICY_AB_LIMIT = 1.05;

/** The policy a sidecar setup runs with: the B file for "sidecar-b", else the A file, else the benchmark's own. */
export function sidecarPolicy(builtIn: string, variant: 'a' | 'b' = 'a'): string {
  if (variant === 'b') {
    if (POLICY_B === null) throw new Error('sidecar-b needs SPILLWAY_BENCH_POLICY_B');
    return POLICY_B;
  }
  return POLICY_A ?? builtIn;
}

/** Where the sidecar's policy came from, for the report's notes. */
export function policyNote(): string[] {
  const a = process.env.SPILLWAY_BENCH_POLICY;
  const b = process.env.SPILLWAY_BENCH_POLICY_B;
  return [
    ...(a ? [`sidecar policy: ${a} (SPILLWAY_BENCH_POLICY)`] : []),
    ...(b ? [`sidecar-b: this build with policy ${b} (SPILLWAY_BENCH_POLICY_B)`] : []),
  ];
}

export type SidecarProc = Proc & { admin: number; egress: number };

export async function startSidecar(o: SidecarOptions): Promise<SidecarProc> {
  const policy = join(o.dir, `policy-${o.listen}.yaml`);
  writeFileSync(policy, o.policyYaml);
  const admin = await freePort();
  const egress = await freePort();
  const args = [
    ...EXTRA_NODE_ARGS,
    ...(o.nodeArgs ?? []),
    join(o.root ?? ROOT, 'bin', 'spillway.js'),
    'sidecar',
    '--policy',
    policy,
    '--upstream',
    `http://127.0.0.1:${o.upstreamPort}`,
    '--listen',
    String(o.listen),
    '--admin',
    String(admin),
    '--egress',
    String(egress),
    '--state-dir',
    join(o.dir, `state-${o.listen}`),
  ];
  const node = o.root !== undefined ? BASELINE_NODE : PROXY_NODE;
  const proc = await start('sidecar', node.path, args, { cpus: o.cpus, port: o.listen });
  await waitReady(admin, proc);
  return { ...proc, admin, egress };
}

/** /readyz turns 200 once the policy is in force. */
async function waitReady(admin: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${admin}/readyz`);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      // admin port not up yet
    }
    await sleep(100);
  }
  await proc.stop();
  throw new Error(`sidecar not ready within 15 s:\n${proc.stderr().slice(-2000)}`);
}

export function startBareProxy(listen: number, upstreamPort: number, cpus?: string, nodeArgs: string[] = []): Promise<Proc> {
  return start('bare-proxy', PROXY_NODE.path, [...nodeArgs, script('bare-proxy'), String(listen), `http://127.0.0.1:${upstreamPort}`], {
    cpus,
    port: listen,
  });
}

export function startSlowUpstream(port: number, cpus?: string, slots = 100, serviceMs = 20): Promise<Proc> {
  return start('slow-upstream', NODE, [script('slow-upstream'), String(port), String(slots), String(serviceMs)], {
    cpus,
    port,
  });
}

/** The open-loop generator in its own process; `result()` waits for its JSON report. */
export async function startOpenLoop(
  opts: OpenLoopOptions,
  cpus?: string,
): Promise<{ proc: Proc; result: () => Promise<OpenLoopResult> }> {
  const proc = await start('open-loop', NODE, [script('open-loop'), JSON.stringify(opts)], { cpus, captureStdout: true });
  const guard = setTimeout(() => void proc.stop(), opts.durationMs + (opts.timeoutMs ?? 5000) + 20_000);
  return {
    proc,
    result: async (): Promise<OpenLoopResult> => {
      const code = await proc.exited();
      clearTimeout(guard);
      if (code !== 0) throw new Error(`open-loop exited ${code}: ${proc.stderr().slice(-1000)}`);
      return JSON.parse(proc.stdout()) as OpenLoopResult;
    },
  };
}

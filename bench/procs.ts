/**
 * Child processes for the benchmarks: started with an optional CPU pin and a raised fd limit,
 * waited for on their port, measured through /proc, and stopped by PID (never by name).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { freePort } from '../e2e/apps/free-port.js';

export interface StartOptions {
  /** CPU list for `taskset -c` (ignored when taskset is missing). */
  cpus?: string;
  /** Wait until this TCP port on 127.0.0.1 accepts connections. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** Keep stdout (for processes that report JSON); stderr is always kept for error messages. */
  captureStdout?: boolean;
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process has exited by itself. */
  exited(): Promise<number | null>;
  stop(): Promise<void>;
}

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
export const HAVE_TASKSET = has('taskset');

export function haveCommand(cmd: string): boolean {
  return has(cmd);
}

/** The node binary running this harness, for child scripts. */
export const NODE = process.execPath;

export interface NodeBinary {
  path: string;
  version: string;
}

/**
 * The node binary named by environment variable `name`, else `fallback`; checked to run (its
 * `--version`), so a wrong path fails before any benchmark starts.
 */
export function nodeFromEnv(name: string, fallback: NodeBinary): NodeBinary {
  const path = process.env[name];
  if (path === undefined || path === '') return fallback;
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const version = r.status === 0 ? r.stdout.trim() : '';
  if (!/^v\d+\.\d+\.\d+/.test(version)) throw new Error(`${name}=${path}: not a node binary (${r.error?.message ?? (r.stderr.trim() || `exit ${r.status}`)})`);
  return { path, version };
}

export async function start(name: string, cmd: string, args: string[], opts: StartOptions = {}): Promise<Proc> {
  let file = cmd;
  let argv = args;
  if (opts.cpus !== undefined && HAVE_TASKSET) {
    argv = ['-c', opts.cpus, file, ...argv];
    file = 'taskset';
  }
  const child = spawn(file, argv, {
    stdio: ['ignore', opts.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    env: opts.env ?? process.env,
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < 64_000) err += d;
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid as number;
  const proc: Proc = {
    name,
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    exited: () => exit,
    stop: () => stopChild(child),
  };
  if (opts.port !== undefined) {
    try {
      await waitForPort(opts.port, 15_000, child);
    } catch (e) {
      await proc.stop();
      throw new Error(`${name}: ${(e as Error).message}\n${err.slice(-2000)}`);
    }
  }
  return proc;
}

/** SIGTERM, then SIGKILL after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening on ${port}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`did not listen on ${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `spillway-bench-${prefix}-`));
}

const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** utime + stime of the whole process (all threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces; fields are counted after its closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) * TICK_US;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Snapshots CPU time of several processes; `since()` gives the deltas. */
export class CpuMeter {
  private readonly base = new Map<number, number>();
  private t0 = process.hrtime.bigint();

  constructor(private readonly procs: Proc[]) {
    this.reset();
  }

  reset(): void {
    this.t0 = process.hrtime.bigint();
    for (const p of this.procs) this.base.set(p.pid, cpuMicros(p.pid));
  }

  /** Per process: CPU microseconds used and share of one core since reset(). */
  since(): Record<string, { cpuUs: number; cores: number }> {
    const wallUs = Number(process.hrtime.bigint() - this.t0) / 1000;
    const out: Record<string, { cpuUs: number; cores: number }> = {};
    for (const p of this.procs) {
      const cpuUs = cpuMicros(p.pid) - (this.base.get(p.pid) ?? 0);
      out[p.name] = { cpuUs, cores: cpuUs / wallUs };
    }
    return out;
  }
}

/** Main thread's time on a CPU and time waiting for one (runnable, not running), ns: /proc/<pid>/schedstat. */
function schedNs(pid: number): [number, number] {
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return [run, wait];
}

/**
 * How much of the time a process's main thread (a Node event loop, HAProxy's one thread) was
 * ready to run but waited for a CPU other processes held: the machine's share of its latency,
 * which its own efficiency cannot change. `since()`: wait / (run + wait) since construction.
 */
export class RunQueueMeter {
  private readonly base: [number, number];

  constructor(private readonly pid: number) {
    this.base = schedNs(pid);
  }

  since(): { runMs: number; waitMs: number; waitShare: number } {
    const [run, wait] = schedNs(this.pid);
    const r = run - this.base[0];
    const w = wait - this.base[1];
    return { runMs: r / 1e6, waitMs: w / 1e6, waitShare: r + w > 0 ? w / (r + w) : 0 };
  }
}

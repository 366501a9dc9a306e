/**
 * What the operator benchmarks share: the API-server double in-process, a private
 * redis-server, operator and sidecar processes (each stopped by PID), kubectl, percentiles.
 * Built into dist/ like the rest of bench/ (which cannot import test/support).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../e2e/apps/free-port.js';
import { waitForPort } from './procs.js';
import { ROOT, run, waitFor as waitUntil, type RunResult } from '../e2e/support/control-plane.js';

export { freePort, ROOT, run, type RunResult };

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Polls every 20 ms by default: propagation times are measured with it. */
export function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs: number, everyMs = 20): Promise<Exclude<T, null | undefined | false>> {
  return waitUntil(what, fn, timeoutMs, everyMs);
}

/** A child process we started, stopped by its PID. */
export class Proc {
  readonly child: ChildProcess;
  log = '';

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-20_000)));
    this.child.stderr?.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-20_000)));
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = once(this.child, 'exit');
    this.child.kill(signal);
    await done;
  }
}

export async function startRedis(): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = new Proc('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForPort(port, 10_000);
  return { url: `redis://127.0.0.1:${port}`, proc };
}

/** `node bin/spillway.js ...`; SPILLWAY_BENCH_NODE_ARGS adds node flags (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
export function spillway(args: string[]): Proc {
  const nodeArgs = (process.env.SPILLWAY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return new Proc(process.execPath, [...nodeArgs, 'bin/spillway.js', ...args]);
}

/** Seconds of CPU a process used (user + system), from /proc (Linux). */
export async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const { readFileSync } = await import('node:fs');
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function ms(x: number): string {
  return `${Math.round(x)} ms`;
}

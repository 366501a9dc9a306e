/**
 * Child processes for the demo and the scenarios: spawned with a name, waited on over HTTP,
 * stopped by PID (SIGTERM, then SIGKILL after a grace period). Every live child is tracked so a
 * Ctrl-C or an early exit can stop them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';

export interface Child {
  name: string;
  pid: number;
  /** Resolves with the exit code (or signal name) when the process has exited. */
  exited: Promise<number | string>;
  /** The last lines the process wrote to stderr/stdout, for error messages. */
  output(): string;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Child>();
const OUTPUT_LINES = 40;

export function spawnChild(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const proc: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > OUTPUT_LINES) lines.splice(0, lines.length - OUTPUT_LINES);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const pid = proc.pid;
  const child: Child = {
    name,
    pid,
    exited,
    output: () => lines.join('\n'),
    async stop(graceMs = 3000) {
      live.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (proc.exitCode === null && proc.signalCode === null) process.kill(pid, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/** Stops every child still running (on Ctrl-C or a failure). */
export async function stopAllChildren(graceMs = 2000): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** Kills every live child at once, synchronously (for process 'exit' handlers). */
export function killAllChildrenNow(): void {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

/** Polls `url` until it answers 200; fails early if the child exits, or after `timeoutMs`. */
export async function waitForHttp200(child: Child, url: string, timeoutMs = 15_000): Promise<void> {
  let exitedWith: number | string | undefined;
  void child.exited.then((code) => (exitedWith = code));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) {
      throw new Error(`${child.name} exited (${exitedWith}) before ${url} was ready:\n${child.output()}`);
    }
    if ((await status(url)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name} not ready at ${url} after ${timeoutMs} ms:\n${child.output()}`);
}

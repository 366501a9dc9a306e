/** `node bin/spillway.js …` as a child of the test: started from the repo root, its output kept, stopped by its PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from './control-plane.js';

export class SpillwayProcess {
  private readonly child: ChildProcess;
  /** stdout and stderr together, for a failing test to print. */
  log = '';

  /** `env`: added to this process's environment. */
  constructor(args: string[], env?: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ['bin/spillway.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: env && { ...process.env, ...env } });
    this.child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Sends `signal` unless it has exited already; resolves with the exit code (null when killed by a signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.exited) return this.child.exitCode;
    const done = once(this.child, 'exit');
    this.child.kill(signal);
    const [code] = (await done) as [number | null];
    return code;
  }
}

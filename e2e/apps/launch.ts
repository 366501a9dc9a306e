/**
 * Starts the demo's processes as children: the chat app (from the build) and the Spillway
 * sidecar, exactly as the design contract runs it. Both are stopped by PID through `Child.stop`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnChild, waitForHttp200, type Child } from './child-process.js';
import { freePort } from './free-port.js';

/** The checkout root: the nearest ancestor holding bin/spillway.js. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'spillway.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find bin/spillway.js above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export interface ChatAppProcess {
  child: Child;
  port: number;
  url: string;
}

/** Runs dist/e2e/apps/chat-app-main.js with the given flags (e.g. { workers: 20 }); ready when /_admin/stats answers. */
export async function spawnChatApp(flags: Record<string, number> = {}): Promise<ChatAppProcess> {
  const port = await freePort();
  const main = join(repoRoot(), 'dist', 'e2e', 'apps', 'chat-app-main.js');
  const args = [main, '--port', String(port)];
  for (const [flag, value] of Object.entries(flags)) args.push(`--${flag}`, String(value));
  const child = spawnChild('chat-app', process.execPath, args);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp200(child, `${url}/_admin/stats`);
  return { child, port, url };
}

export interface SidecarProcess {
  child: Child;
  listenPort: number;
  adminPort: number;
  egressPort: number;
  /** The inbound address clients use instead of the app's. */
  url: string;
  adminUrl: string;
  /** Stops the process and removes its state dir. */
  stop(): Promise<void>;
}

export interface SidecarOptions {
  /** The config source: a policy file, or (absent) the source flags in extraArgs (e.g. --redis, --config-key). */
  policyFile?: string;
  upstream: string;
  /** Extra flags, e.g. ['--kafka', brokers]. */
  extraArgs?: string[];
  /** For its output's prefix and its state dir's name. Default "sidecar". */
  name?: string;
}

/** `spillway sidecar --policy ... --upstream ...` on free ports; ready when /readyz answers 200. */
export async function startSidecar(opts: SidecarOptions): Promise<SidecarProcess> {
  const [listenPort, adminPort, egressPort] = [await freePort(), await freePort(), await freePort()];
  const name = opts.name ?? 'sidecar';
  const stateDir = mkdtempSync(join(tmpdir(), `spillway-${name}-`));
  const args = [
    join(repoRoot(), 'bin', 'spillway.js'),
    'sidecar',
    ...(opts.policyFile === undefined ? [] : ['--policy', opts.policyFile]),
    '--upstream', opts.upstream,
    '--listen', String(listenPort),
    '--admin', String(adminPort),
    '--egress', String(egressPort),
    '--state-dir', stateDir,
    ...(opts.extraArgs ?? []),
  ];
  const child = spawnChild(name, process.execPath, args);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const stop = async (): Promise<void> => {
    await child.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp200(child, `${adminUrl}/readyz`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, listenPort, adminPort, egressPort, url: `http://127.0.0.1:${listenPort}`, adminUrl, stop };
}

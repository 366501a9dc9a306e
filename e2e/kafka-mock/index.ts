/**
 * The Kafka test broker for integration and e2e tests: librdkafka's mock cluster in a child
 * process (`mock-cluster.c`), built on first use with `cc` into `.tmp/`. It speaks the real
 * Kafka protocol, so kafkajs talks to it as to a real cluster; `down`/`up` inject broker faults.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface KafkaMockOptions {
  /** Brokers in the cluster (ids 1..n). Default 3. */
  brokers?: number;
  /** Topics to create up front: `name` (1 partition) or `name:partitions`. */
  topics?: string[];
}

export interface KafkaMock {
  bootstrap: string[];
  /** Disconnects broker `id` (-1: all) and refuses new connections; leaders do not move. */
  down(id: number): Promise<void>;
  up(id: number): Promise<void>;
  /** Kills the process by PID and waits for it to exit. */
  stop(): Promise<void>;
  readonly pid: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root: this file sits at e2e/kafka-mock/ in the sources and in dist/. */
const root = resolve(here, here.split('/').includes('dist') ? '../../..' : '../..');
const source = join(root, 'e2e', 'kafka-mock', 'mock-cluster.c');
const binary = join(root, '.tmp', 'kafka-mock', 'mock-cluster');

/** Builds the helper if it is missing or older than its source; returns its path. */
export function buildKafkaMock(): string {
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  mkdirSync(dirname(binary), { recursive: true });
  // Build under a private name and rename: parallel jest workers may build at the same time.
  const tmp = `${binary}.${process.pid}`;
  const cc = spawnSync('cc', ['-O1', '-Wall', '-o', tmp, source, '-lrdkafka'], { encoding: 'utf8' });
  if (cc.status !== 0) {
    throw new Error(`building ${source} failed (needs gcc and librdkafka-dev): ${cc.error?.message ?? cc.stderr}`);
  }
  renameSync(tmp, binary);
  return binary;
}

export async function startKafkaMock(opts: KafkaMockOptions = {}): Promise<KafkaMock> {
  const bin = buildKafkaMock();
  const child = spawn(bin, [String(opts.brokers ?? 3), ...(opts.topics ?? [])], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const pending: Array<(line: string) => void> = [];
  lines.on('line', (line) => pending.shift()?.(line));
  const exited = once(child, 'exit').catch(() => undefined);

  const nextLine = (what: string): Promise<string> =>
    new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => reject(new Error(`kafka mock: no answer to ${what} (${stderr.trim()})`)), 10_000);
      pending.push((line) => {
        clearTimeout(timer);
        resolveLine(line);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`kafka mock exited during ${what}: ${stderr.trim()}`));
      });
    });

  let bootstrapLine: string;
  try {
    bootstrapLine = await nextLine('start');
  } catch (err) {
    await kill(child, lines);
    throw err;
  }

  const command = async (cmd: string): Promise<void> => {
    child.stdin.write(`${cmd}\n`);
    const answer = await nextLine(cmd);
    if (answer !== 'ok') throw new Error(`kafka mock: ${cmd}: ${answer}`);
  };

  return {
    bootstrap: bootstrapLine.trim().split(','),
    pid: child.pid ?? -1,
    down: (id) => command(`down ${id}`),
    up: (id) => command(`up ${id}`),
    stop: () => kill(child, lines),
  };
}

async function kill(child: ChildProcess, lines: Interface): Promise<void> {
  lines.close();
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit').catch(() => undefined);
  child.kill('SIGKILL');
  await exited;
}

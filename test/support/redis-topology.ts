/**
 * Real Redis topologies for tests, from Debian's redis-server and redis-sentinel: a Sentinel
 * setup (a master, a replica, three Sentinels with quorum 2) and a Cluster (3 masters + 3
 * replicas). Every process listens on 127.0.0.1 on a free port, has its own directory under one
 * temp dir, requires a password (with characters a URL must percent-encode), and is stopped by
 * PID in stop(). Failovers are tuned to take a few seconds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

export const PASSWORD = 'sp:ll/w@y pw';
const AUTH = `:${encodeURIComponent(PASSWORD)}@`;
export const MASTER_NAME = 'spillway-master';
/** Sentinel: how long a silent master takes to be judged down. */
const DOWN_AFTER_MS = 1000;
/** Cluster: how long a silent node takes to be judged failed. */
const NODE_TIMEOUT_MS = 1000;

async function poll<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One short-lived connection for a check; never retries. */
async function withNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, password: PASSWORD, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** The processes of one topology, by port. */
class Processes {
  readonly dir = mkdtempSync(join(tmpdir(), 'spillway-redis-topology-'));
  readonly children = new Map<number, ChildProcess>();
  private readonly commands = new Map<number, { cmd: 'redis-server' | 'redis-sentinel'; args: string[] }>();

  async start(cmd: 'redis-server' | 'redis-sentinel', port: number, args: string[]): Promise<void> {
    this.commands.set(port, { cmd, args });
    const child = spawn(cmd, args, { stdio: 'ignore', cwd: this.dir });
    this.children.set(port, child);
    await poll(`${cmd} on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}`);
      return withNode(port, async (r) => (await r.ping()) === 'PONG');
    }, 10_000);
  }

  nodeDir(port: number): string {
    const d = join(this.dir, String(port));
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Starts a killed process again with its arguments and directory. */
  async restart(port: number): Promise<void> {
    const c = this.commands.get(port);
    if (!c) throw new Error(`nothing ever ran on ${port}`);
    await this.start(c.cmd, port, c.args);
  }

  /** SIGSTOP / SIGCONT: a node that stops answering without closing its connections. */
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.children.get(port)?.kill(signal);
  }

  /** SIGKILL (a crash, not a shutdown) and wait for the exit. */
  async kill(port: number): Promise<void> {
    const child = this.children.get(port);
    this.children.delete(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async stopAll(): Promise<void> {
    for (const port of [...this.children.keys()]) {
      this.signal(port, 'SIGCONT');
      await this.kill(port);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * SIGSTOP alone is not enough: the kernel would still take the master's writes into the frozen
 * replica's socket buffer and hand them over on SIGCONT. So the master also drops its replica
 * links; the frozen replica cannot reconnect until thawed.
 */
async function pauseReplica(procs: Processes, master: number, replica: number, paused: boolean): Promise<void> {
  procs.signal(replica, paused ? 'SIGSTOP' : 'SIGCONT');
  if (paused) await withNode(master, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
}

const serverArgs = (port: number, dir: string): string[] => [
  '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no',
  '--requirepass', PASSWORD, '--masterauth', PASSWORD,
];

/** A master, one replica and three Sentinels (quorum 2). */
export class SentinelTopology {
  private readonly procs = new Processes();
  master = 0;
  replica = 0;
  sentinels: number[] = [];

  get url(): string {
    return `redis+sentinel://${AUTH}${this.sentinels.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`;
  }

  static async start(): Promise<SentinelTopology> {
    const t = new SentinelTopology();
    try {
      await t.boot();
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  private async boot(): Promise<void> {
    this.master = await freePort();
    this.replica = await freePort();
    await this.procs.start('redis-server', this.master, serverArgs(this.master, this.procs.nodeDir(this.master)));
    await this.procs.start('redis-server', this.replica, [...serverArgs(this.replica, this.procs.nodeDir(this.replica)), '--replicaof', '127.0.0.1', String(this.master)]);
    await poll('the replica in sync', () => withNode(this.replica, async (r) => /master_link_status:up/.test(await r.info('replication'))), 10_000);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = this.procs.nodeDir(port);
      const conf = join(dir, 'sentinel.conf');
      // Sentinel rewrites its config file: one writable file per Sentinel.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `requirepass "${PASSWORD}"`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${this.master} 2`,
          `sentinel auth-pass ${MASTER_NAME} "${PASSWORD}"`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${MASTER_NAME} 3000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      await this.procs.start('redis-sentinel', port, [conf]);
      this.sentinels.push(port);
    }
    // Every Sentinel knows the replica and the two other Sentinels: a failover can be voted.
    for (const s of this.sentinels) {
      await poll(`Sentinel ${s} sees the replica and its peers`, () =>
        withNode(s, async (r) => {
          const replicas = (await r.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
          const peers = (await r.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[];
          return replicas.length === 1 && peers.length === 2;
        }),
        20_000,
      );
    }
  }

  /** The master as the Sentinels report it now. */
  async currentMaster(): Promise<number> {
    return withNode(this.sentinels[0], async (r) => Number(((await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[])[1]));
  }

  async killMaster(): Promise<void> {
    await this.procs.kill(this.master);
  }

  /** Freezes (or thaws) the replica: writes to the master meanwhile do not reach it. */
  async pauseReplica(paused: boolean): Promise<void> {
    await pauseReplica(this.procs, this.master, this.replica, paused);
  }

  /** Waits until the Sentinels have promoted the replica and it answers as a master; the roles swap. */
  async waitPromoted(timeoutMs = 30_000): Promise<void> {
    await poll('the replica promoted', async () => (await this.currentMaster()) === this.replica, timeoutMs);
    await poll('the new master writable', () => withNode(this.replica, async (r) => /role:master/.test(await r.info('replication'))), timeoutMs);
    [this.master, this.replica] = [this.replica, this.master];
  }

  /** Restarts the killed old master; the Sentinels make it a replica of the new one. Waits until it is in sync and eligible. */
  async reviveReplica(timeoutMs = 30_000): Promise<void> {
    await this.procs.restart(this.replica);
    await poll('the old master in sync as a replica', () => withNode(this.replica, async (r) => /master_link_status:up/.test(await r.info('replication'))), timeoutMs);
    for (const s of this.sentinels) {
      await poll(`Sentinel ${s} sees the revived replica up`, () =>
        withNode(s, async (r) => {
          const replicas = (await r.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as string[][];
          return replicas.some((f) => f[f.indexOf('port') + 1] === String(this.replica) && !/s_down|disconnected/.test(f[f.indexOf('flags') + 1]));
        }),
        timeoutMs,
      );
    }
  }

  /** A direct connection to a node (for counting keys). */
  node(port: number): Redis {
    const r = new Redis({ host: '127.0.0.1', port, password: PASSWORD, maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    return r;
  }

  async stop(): Promise<void> {
    await this.procs.stopAll();
  }
}

/** Three masters and three replicas, every slot covered. */
export class ClusterTopology {
  private readonly procs = new Processes();
  ports: number[] = [];

  get url(): string {
    return `redis+cluster://${AUTH}${this.ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',')}`;
  }

  static async start(): Promise<ClusterTopology> {
    const t = new ClusterTopology();
    try {
      await t.boot();
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  private async boot(): Promise<void> {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      // The bus port is given explicitly: port + 10000 may be taken or out of range.
      const bus = await freePort();
      const dir = this.procs.nodeDir(port);
      await this.procs.start('redis-server', port, [
        ...serverArgs(port, dir),
        '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', join(dir, 'nodes.conf'),
        '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      ]);
      this.ports.push(port);
    }
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      { env: { ...process.env, REDISCLI_AUTH: PASSWORD }, encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const p of this.ports) {
      await poll(`cluster_state:ok on ${p}`, () => withNode(p, async (r) => /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string)), 30_000);
    }
    // Every replica attached: a failover needs one.
    await poll('3 replicas in sync', async () => {
      let synced = 0;
      for (const p of this.ports) synced += await withNode(p, async (r) => (/role:slave[\s\S]*master_link_status:up/.test(await r.info('replication')) ? 1 : 0));
      return synced === 3;
    }, 30_000);
  }

  /** The port of the master serving `key`'s slot, asked of any live node. */
  async masterOf(key: string): Promise<number> {
    return (await this.servers(key))[0];
  }

  /** The master serving `key`'s slot and its replica, once every node agrees it has one. */
  async masterAndReplicaOf(key: string, timeoutMs = 10_000): Promise<[number, number]> {
    return poll(`a replica serving ${key}`, async () => {
      const s = await this.servers(key);
      return s.length >= 2 ? ([s[0], s[1]] as [number, number]) : undefined;
    }, timeoutMs);
  }

  /** The master serving `key`'s slot, then its replicas. */
  async servers(key: string): Promise<number[]> {
    for (const p of this.procs.children.keys()) {
      try {
        return await withNode(p, async (r) => {
          const slot = (await r.call('CLUSTER', 'KEYSLOT', key)) as number;
          const ranges = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
          const range = ranges.find(([from, to]) => slot >= from && slot <= to);
          if (!range) throw new Error(`slot ${slot} is not served`);
          return (range.slice(2) as Array<[string, number]>).map((n) => Number(n[1]));
        });
      } catch {
        // That node is down or not yet converged: ask another.
      }
    }
    throw new Error(`no live node knows who serves ${key}`);
  }

  async kill(port: number): Promise<void> {
    await this.procs.kill(port);
  }

  /** Freezes (or thaws) `replica`: writes to `master` meanwhile do not reach it. */
  async pauseReplica(master: number, replica: number, paused: boolean): Promise<void> {
    await pauseReplica(this.procs, master, replica, paused);
  }

  /** Restarts a killed node (it rejoins from its nodes.conf, as a replica of its promoted one); waits until it is in sync. */
  async revive(port: number, timeoutMs = 30_000): Promise<void> {
    await this.procs.restart(port);
    await poll(`${port} in sync as a replica`, () => withNode(port, async (r) => /role:slave[\s\S]*master_link_status:up/.test(await r.info('replication'))), timeoutMs);
    for (const p of this.procs.children.keys()) {
      await poll(`cluster_state:ok on ${p}`, () => withNode(p, async (r) => /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string)), timeoutMs);
    }
  }

  /** Waits until `key`'s slot is served by a live master other than `dead`, and the cluster is ok again. */
  async waitFailover(key: string, dead: number, timeoutMs = 30_000): Promise<number> {
    const promoted = await poll(`a replica promoted for ${key}`, async () => {
      const m = await this.masterOf(key);
      if (m === dead) return undefined;
      return withNode(m, async (r) => (/role:master/.test(await r.info('replication')) ? m : undefined));
    }, timeoutMs);
    for (const p of this.procs.children.keys()) {
      await poll(`cluster_state:ok on ${p}`, () => withNode(p, async (r) => /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string)), timeoutMs);
    }
    return promoted;
  }

  async stop(): Promise<void> {
    await this.procs.stopAll();
  }
}

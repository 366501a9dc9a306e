/**
 * Real Redis topologies for tests, from Debian's redis-server and redis-sentinel: a Sentinel
 * setup (a master, a replica, three Sentinels with quorum 2) and a Cluster (3 masters + 3
 * replicas). Every process listens on 127.0.0.1 on a free port, has its own directory under one
 * temp dir, requires a password (with characters a URL must percent-encode), and is stopped by
 * PID in stop(). Failovers are tuned to take a few seconds. With `tls`, every link (clients,
 * replication, Sentinels, the cluster bus) is TLS with a private CA made by openssl.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
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

/** A private CA and a server certificate for 127.0.0.1 it signed (TLS topologies). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export function makeTlsFiles(dir: string): TlsFiles {
  const f = (name: string) => join(dir, name);
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=spillway test CA', '-keyout', f('ca.key'), '-out', f('ca.crt')]);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr')]);
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('san.ext'), '-out', f('server.crt')]);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

/** The processes of one topology, by port. */
class Processes {
  readonly dir = mkdtempSync(join(tmpdir(), 'spillway-redis-topology-'));
  readonly tls: TlsFiles | null;

  constructor(tls: boolean) {
    this.tls = tls ? makeTlsFiles(this.dir) : null;
  }

  /** TLS options a client needs to trust the servers (none without TLS). */
  clientTls(): { tls?: { ca: Buffer } } {
    return this.tls ? { tls: { ca: readFileSync(this.tls.ca) } } : {};
  }

  /** Server arguments for TLS on `port` (plain `port` without TLS). */
  portArgs(port: number): string[] {
    if (!this.tls) return ['--port', String(port)];
    return [
      '--port', '0', '--tls-port', String(port), '--tls-cert-file', this.tls.cert, '--tls-key-file', this.tls.key,
      '--tls-ca-cert-file', this.tls.ca, '--tls-auth-clients', 'no', '--tls-replication', 'yes',
    ];
  }

  /** One short-lived connection for a check; never retries. */
  async withNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = new Redis({
      host: '127.0.0.1', port, password: PASSWORD, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000,
      ...this.clientTls(),
    });
    r.on('error', () => {});
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  }
  readonly children = new Map<number, ChildProcess>();
  private readonly commands = new Map<number, { cmd: 'redis-server' | 'redis-sentinel'; args: string[] }>();

  async start(cmd: 'redis-server' | 'redis-sentinel', port: number, args: string[]): Promise<void> {
    this.commands.set(port, { cmd, args });
    const child = spawn(cmd, args, { stdio: 'ignore', cwd: this.dir });
    this.children.set(port, child);
    await poll(`${cmd} on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}`);
      return this.withNode(port, async (r) => (await r.ping()) === 'PONG');
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
  if (paused) await procs.withNode(master, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
}

const serverArgs = (procs: Processes, port: number, dir: string): string[] => [
  ...procs.portArgs(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no',
  '--requirepass', PASSWORD, '--masterauth', PASSWORD,
];

/** A master, one replica and three Sentinels (quorum 2). */
export class SentinelTopology {
  private readonly procs: Processes;
  master = 0;
  replica = 0;
  sentinels: number[] = [];

  private constructor(tls: boolean) {
    this.procs = new Processes(tls);
  }

  get url(): string {
    return `${this.procs.tls ? 'rediss' : 'redis'}+sentinel://${AUTH}${this.sentinels.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`;
  }

  /** The CA file processes must trust (NODE_EXTRA_CA_CERTS), with TLS. */
  get caFile(): string | undefined {
    return this.procs.tls?.ca;
  }

  /** A client for the test's own checks (trusting the private CA). */
  client(): Redis {
    const tls = this.procs.clientTls().tls;
    const r = new Redis({
      sentinels: this.sentinels.map((port) => ({ host: '127.0.0.1', port })),
      name: MASTER_NAME,
      password: PASSWORD,
      sentinelPassword: PASSWORD,
      maxRetriesPerRequest: 1,
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
    r.on('error', () => {});
    return r;
  }

  static async start(options: { tls?: boolean } = {}): Promise<SentinelTopology> {
    const t = new SentinelTopology(options.tls ?? false);
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
    await this.procs.start('redis-server', this.master, serverArgs(this.procs, this.master, this.procs.nodeDir(this.master)));
    await this.procs.start('redis-server', this.replica, [...serverArgs(this.procs, this.replica, this.procs.nodeDir(this.replica)), '--replicaof', '127.0.0.1', String(this.master)]);
    await poll('the replica in sync', () => this.procs.withNode(this.replica, async (r) => /master_link_status:up/.test(await r.info('replication'))), 10_000);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = this.procs.nodeDir(port);
      const conf = join(dir, 'sentinel.conf');
      // Sentinel rewrites its config file: one writable file per Sentinel.
      writeFileSync(
        conf,
        [
          ...(this.procs.tls
            ? [
                'port 0',
                `tls-port ${port}`,
                `tls-cert-file ${this.procs.tls.cert}`,
                `tls-key-file ${this.procs.tls.key}`,
                `tls-ca-cert-file ${this.procs.tls.ca}`,
                'tls-auth-clients no',
                'tls-replication yes',
              ]
            : [`port ${port}`]),
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
        this.procs.withNode(s, async (r) => {
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
    return this.procs.withNode(this.sentinels[0], async (r) => Number(((await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[])[1]));
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
    await poll('the new master writable', () => this.procs.withNode(this.replica, async (r) => /role:master/.test(await r.info('replication'))), timeoutMs);
    [this.master, this.replica] = [this.replica, this.master];
  }

  /** Restarts the killed old master; the Sentinels make it a replica of the new one. Waits until it is in sync and eligible. */
  async reviveReplica(timeoutMs = 30_000): Promise<void> {
    await this.procs.restart(this.replica);
    await poll('the old master in sync as a replica', () => this.procs.withNode(this.replica, async (r) => /master_link_status:up/.test(await r.info('replication'))), timeoutMs);
    for (const s of this.sentinels) {
      await poll(`Sentinel ${s} sees the revived replica up`, () =>
        this.procs.withNode(s, async (r) => {
          const replicas = (await r.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as string[][];
          return replicas.some((f) => f[f.indexOf('port') + 1] === String(this.replica) && !/s_down|disconnected/.test(f[f.indexOf('flags') + 1]));
        }),
        timeoutMs,
      );
    }
  }

  async stop(): Promise<void> {
    await this.procs.stopAll();
  }
}

/** Three masters and three replicas, every slot covered. */
export class ClusterTopology {
  private readonly procs: Processes;
  ports: number[] = [];

  private constructor(tls: boolean) {
    this.procs = new Processes(tls);
  }

  get url(): string {
    return `${this.procs.tls ? 'rediss' : 'redis'}+cluster://${AUTH}${this.ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',')}`;
  }

  /** The CA file processes must trust (NODE_EXTRA_CA_CERTS), with TLS. */
  get caFile(): string | undefined {
    return this.procs.tls?.ca;
  }

  /** A client for the test's own checks (trusting the private CA). */
  client(): Cluster {
    const c = new Cluster(this.ports.slice(0, 3).map((port) => ({ host: '127.0.0.1', port })), {
      redisOptions: { password: PASSWORD, maxRetriesPerRequest: 1, ...this.procs.clientTls() },
    });
    c.on('error', () => {});
    return c;
  }

  static async start(options: { tls?: boolean } = {}): Promise<ClusterTopology> {
    const t = new ClusterTopology(options.tls ?? false);
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
        ...serverArgs(this.procs, port, dir),
        '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', join(dir, 'nodes.conf'),
        '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
        ...(this.procs.tls ? ['--tls-cluster', 'yes'] : []),
      ]);
      this.ports.push(port);
    }
    const create = spawnSync(
      'redis-cli',
      [
        ...(this.procs.tls ? ['--tls', '--cacert', this.procs.tls.ca] : []),
        '--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes',
      ],
      { env: { ...process.env, REDISCLI_AUTH: PASSWORD }, encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const p of this.ports) {
      await poll(`cluster_state:ok on ${p}`, () => this.procs.withNode(p, async (r) => /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string)), 30_000);
    }
    // Every replica attached: a failover needs one.
    await poll('3 replicas in sync', async () => {
      let synced = 0;
      for (const p of this.ports) synced += await this.procs.withNode(p, async (r) => (/role:slave[\s\S]*master_link_status:up/.test(await r.info('replication')) ? 1 : 0));
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
        return await this.procs.withNode(p, async (r) => {
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
    await poll(`${port} in sync as a replica`, () => this.procs.withNode(port, async (r) => /role:slave[\s\S]*master_link_status:up/.test(await r.info('replication'))), timeoutMs);
    for (const p of this.procs.children.keys()) {
      await poll(`cluster_state:ok on ${p}`, () => this.procs.withNode(p, async (r) => /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string)), timeoutMs);
    }
  }

  /** Waits until `key`'s slot is served by a live master other than `dead`, and the cluster is ok again. */
  async waitFailover(key: string, dead: number, timeoutMs = 30_000): Promise<number> {
    const promoted = await poll(`a replica promoted for ${key}`, async () => {
      const m = await this.masterOf(key);
      if (m === dead) return undefined;
      return this.procs.withNode(m, async (r) => (/role:master/.test(await r.info('replication')) ? m : undefined));
    }, timeoutMs);
    for (const p of this.procs.children.keys()) {
      await poll(`cluster_state:ok on ${p}`, () => this.procs.withNode(p, async (r) => /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string)), timeoutMs);
    }
    return promoted;
  }

  async stop(): Promise<void> {
    await this.procs.stopAll();
  }
}

/**
 * One suite for Redis Sentinel and Redis Cluster: the real operator process (against the
 * API-server double, through the real kubectl) and two real sidecar processes, all given the
 * topology's `--redis` URL. A policy applied through the operator is enforced by both sidecars;
 * dedup is exactly-once across them; the master serving the config key is killed (SIGKILL) while
 * a steady stream of dedup claims goes through the sidecars: both keep enforcing, and after the
 * promotion an edit is published and applied. Every delivered send's dedup key is then looked up
 * on the new master: a key may only be missing if it was written within the replication lag
 * before the kill (figures printed to stderr and recorded in docs/redis.md). Then, with the old
 * master back as a replica, a config write is made while that replica is frozen and the master
 * is killed: the promoted replica lacks the write, and the operator republishes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { configKey, type CompiledConfig } from '../../api/config.js';
import { dedupKey, RedisDedupStore } from '../../sidecar/egress/dedup.js';
import type { EgressRedis } from '../../sidecar/egress/redis.js';
import type { KubeDouble } from '../../e2e/kube-double/server.js';
import { deploymentYaml, ensureBuilt, installCrdsAndNamespace, Kubectl, startControlPlane, waitFor, waitReadyReplicas } from '../../e2e/support/control-plane.js';
import { configVersion, expectBudget, HoldingUpstream, Proc, send, startSidecar, Vendor, type Sidecar } from '../../e2e/support/sidecars.js';
import { freePort } from '../support/ports.js';

export interface Topology {
  url: string;
  /** TLS: the private CA the operator and sidecar processes must trust. */
  caFile?: string;
  /** A client for the test's own reads (trusting that CA). */
  client(): EgressRedis;
  /** Kills (SIGKILL) the master serving `key`. */
  killMasterOf(key: string): Promise<void>;
  /** Resolves once a replica has been promoted and serves `key` again. */
  waitPromoted(key: string): Promise<void>;
  /** Restarts the killed master; it rejoins as a replica of the promoted one. */
  restoreReplica(): Promise<void>;
  /** SIGSTOP (true) or SIGCONT (false) the replica of the master serving `key`. */
  pauseReplicaOf(key: string, paused: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** Written before the kill, a dedup key older than this must have reached the replica. */
const REPLICATION_LAG_BOUND_MS = 1000;
/** The steady claim stream through the failover: one send every STREAM_EVERY_MS, at most STREAM_MAX. */
const STREAM_EVERY_MS = 10;
const STREAM_MAX = 6000;
/** A faster stream of claims straight to Redis (no vendor): BURST claims every STREAM_EVERY_MS. */
const BURST = 10;

/** background-login: a Cluster budget over 2 replicas; route push: one vendor, dedup refusing while Redis is away. */
const policy = (ns: string, loginLimit: number, vendorUrl: string) => `
apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: chat, namespace: ${ns} }
spec:
  targetRef: { kind: Deployment, name: chat }
  classes:
    - name: background-login
      match: [{ method: POST, path: /login }]
      priority: 10
      concurrency: { limit: ${loginLimit}, scope: Cluster }
  defaultClass: { concurrency: { limit: 1000, scope: Pod } }
  routes:
    - name: push
      vendors: [{ name: fcm-a, url: "${vendorUrl}", timeoutMs: 2000 }]
      dedup: { ttlSeconds: 3600, onRedisDown: refuse }
`;

export function describeFailover(mode: 'Sentinel' | 'Cluster', tls: boolean, startTopology: () => Promise<Topology>): void {
  describe(`Redis ${mode}${tls ? ' over TLS' : ''}: operator + two sidecars through a failover`, () => {
    const ns = `spillway-redis-${mode.toLowerCase()}${tls ? '-tls' : ''}`;
    const target = `${ns}/chat`;
    const cfgKey = configKey(target, mode === 'Cluster');
    let topology: Topology;
    let double: KubeDouble | undefined;
    let k: Kubectl;
    let tmp: string;
    let client: EgressRedis;
    let upstream: HoldingUpstream;
    let vendor: Vendor;
    let vendorUrl: string;
    let operator: Proc;
    const sidecars: Sidecar[] = [];
    const pending: Array<Promise<unknown>> = [];

    const stored = async (): Promise<CompiledConfig | null> => {
      const raw = await client.get(cfgKey);
      return raw ? (JSON.parse(raw) as CompiledConfig) : null;
    };
    const bothAt = (v: number, timeoutMs = 15_000) =>
      waitFor(`both sidecars at version ${v}`, async () => (await Promise.all(sidecars.map(configVersion))).every((x) => x >= v), timeoutMs, 20);
    const publishAndWait = async (loginLimit: number): Promise<CompiledConfig> => {
      const before = (await stored().catch(() => null))?.version ?? 0;
      await k.must(['apply', '-f', '-'], policy(ns, loginLimit, vendorUrl));
      const doc = await waitFor(`config with limit ${loginLimit} in Redis`, async () => {
        const d = await stored().catch(() => null);
        return d && d.version > before && d.classes[0].policyLimit === loginLimit ? d : undefined;
      }, 30_000, 50);
      await bothAt(doc.version);
      return doc;
    };

    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), `spillway-redis-${mode.toLowerCase()}-`));
      await ensureBuilt();
      topology = await startTopology();
      client = topology.client();
      const env = topology.caFile ? { NODE_EXTRA_CA_CERTS: topology.caFile } : undefined;
      const cp = await startControlPlane(tmp);
      double = cp.double;
      k = new Kubectl(cp.kubeconfig, join(tmp, 'kube-cache'));
      await installCrdsAndNamespace(k, ns);
      await k.must(['apply', '-f', '-'], deploymentYaml(ns, 'chat', 2));
      double?.setReadyReplicas(ns, 'chat', 2);
      await waitReadyReplicas(k, ns, 'chat', 2);
      upstream = new HoldingUpstream();
      const upstreamPort = await upstream.start();
      vendor = new Vendor();
      vendorUrl = await vendor.start();
      operator = new Proc('operator', ['operator', '--kubeconfig', cp.kubeconfig, '--redis', topology.url, '--namespace', ns, '--admin', String(await freePort())], env);
      for (const pod of ['chat-0', 'chat-1']) sidecars.push(await startSidecar({ pod, redis: topology.url, configKey: target, upstreamPort, stateRoot: tmp, env }));
      for (const s of sidecars) {
        await waitFor(`${s.pod} admin`, async () => (await fetch(`http://127.0.0.1:${s.admin}/healthz`).catch(() => null))?.status === 200, 20_000);
      }
    }, 180_000);

    afterEach(async () => {
      upstream?.release();
      await Promise.allSettled(pending.splice(0));
    });

    afterAll(async () => {
      for (const s of sidecars) await s.proc.stop('SIGKILL');
      await operator?.stop('SIGKILL');
      if (process.env.SPILLWAY_E2E_LOGS) for (const p of [operator, ...sidecars.map((s) => s.proc)]) process.stderr.write(`--- ${p?.name}\n${p?.log}`);
      client?.disconnect();
      await upstream?.close();
      await vendor?.close();
      await double?.close();
      await topology?.stop();
      rmSync(tmp, { recursive: true, force: true });
    }, 60_000);

    it('a policy applied through the operator is enforced by both sidecars', async () => {
      await publishAndWait(4);
      // 4 over 2 ready replicas: 2 per pod.
      for (const s of sidecars) await expectBudget(upstream, s, 2, pending);
    }, 60_000);

    it('dedup is exactly-once across the two sidecars', async () => {
      const keys = Array.from({ length: 30 }, (_, i) => `once-${i}`);
      const statuses = await Promise.all(keys.flatMap((key) => sidecars.map((s) => send(s, { 'idempotency-key': key }))));
      // Each key: one send delivered (200), the racing one answered as a duplicate (200 replayed or 409 pending).
      for (const st of statuses) expect([200, 409]).toContain(st);
      for (const key of keys) expect({ key, n: vendor.byKey.get(key) }).toEqual({ key, n: 1 });
      // A later repeat through either sidecar is answered from Redis, not sent.
      for (const [i, key] of keys.entries()) expect(await send(sidecars[i % 2], { 'idempotency-key': key })).toBe(200);
      for (const key of keys) expect(vendor.byKey.get(key)).toBe(1);
    }, 60_000);

    it('master killed: both sidecars keep enforcing; after the promotion an edit is applied; dedup keys survive beyond the replication lag', async () => {
      const versions = await Promise.all(sidecars.map(configVersion));
      // A steady stream of dedup claims through both sidecars, across the failover.
      const delivered = new Map<string, number>();
      let refused = 0;
      let streaming = true;
      // And claims straight to Redis, ten times faster, so the replication window shows if it can.
      const store = new RedisDedupStore(client, target);
      const claimed = new Map<string, number>();
      const direct = (async () => {
        for (let i = 0; streaming && i < STREAM_MAX; i++) {
          const batch = Array.from({ length: BURST }, (_, j) => `direct-${i}-${j}`);
          void Promise.all(batch.map(async (key) => {
            if ((await store.claim('direct', key, 600_000)).kind === 'claimed') claimed.set(key, Date.now());
          }));
          await new Promise((r) => setTimeout(r, STREAM_EVERY_MS));
        }
      })();
      const stream = (async () => {
        const sends: Array<Promise<void>> = [];
        for (let i = 0; streaming && i < STREAM_MAX; i++) {
          const key = `stream-${i}`;
          const s = sidecars[i % 2];
          sends.push(
            send(s, { 'idempotency-key': key }).then(
              (st) => {
                if (st === 200 && vendor.byKey.get(key) === 1) delivered.set(key, Date.now());
                else refused++;
              },
              () => void refused++,
            ),
          );
          await new Promise((r) => setTimeout(r, STREAM_EVERY_MS));
        }
        await Promise.all(sends);
      })();
      await new Promise((r) => setTimeout(r, 1000));

      const killedAt = Date.now();
      await topology.killMasterOf(cfgKey);
      // Enforcement does not wait for Redis.
      expect(await Promise.all(sidecars.map(configVersion))).toEqual(versions);
      for (const s of sidecars) await expectBudget(upstream, s, 2, pending);
      await topology.waitPromoted(cfgKey);
      const promotedAt = Date.now();
      // The operator writes to the new master: an edit reaches both sidecars.
      const doc = await publishAndWait(8);
      const appliedAt = Date.now();
      expect(doc.version).toBeGreaterThan(Math.max(...versions));
      for (const s of sidecars) await expectBudget(upstream, s, 4, pending);
      await new Promise((r) => setTimeout(r, 1000));
      streaming = false;
      await stream;
      await direct;
      await new Promise((r) => setTimeout(r, 500)); // the last claims' answers

      // Every delivered send's key, looked up on the new master.
      let done = 0;
      const downgraded: number[] = [];
      const missing: number[] = [];
      for (const [key, at] of delivered) {
        const raw = await client.get(dedupKey(target, 'push', key));
        if (raw?.includes('"done"')) done++;
        else (raw ? downgraded : missing).push(killedAt - at);
      }
      const lost = [...downgraded, ...missing];
      const directLost: number[] = [];
      for (const [key, at] of claimed) if ((await client.exists(dedupKey(target, 'direct', key))) === 0) directLost.push(killedAt - at);
      const report = {
        mode,
        delivered: delivered.size,
        refusedDuringFailover: refused,
        keptDone: done,
        pendingOnly: downgraded.length,
        missing: missing.length,
        lostWrittenMsBeforeKill: lost.sort((a, b) => a - b),
        directClaims: claimed.size,
        directLost: directLost.length,
        directLostWrittenMsBeforeKill: directLost.sort((a, b) => a - b),
        promotedAfterMs: promotedAt - killedAt,
        editAppliedAfterPromotionMs: appliedAt - promotedAt,
      };
      process.stderr.write(`redis ${mode}${tls ? ' TLS' : ''} failover: ${JSON.stringify(report)}\n`);
      expect(delivered.size).toBeGreaterThan(100);
      // Only keys written just before the kill (within the replication lag) may be lost: never
      // one written long before it, nor one written after it (to a live master). The 250 ms
      // allows for a send whose claim was written before the kill but whose answer came after.
      for (const ms of [...lost, ...directLost]) expect(ms).toBeLessThan(REPLICATION_LAG_BOUND_MS);
      for (const ms of [...lost, ...directLost]) expect(ms).toBeGreaterThan(-250);
      expect(operator.exited).toBe(false);
    }, 180_000);

    it('a config write lost with the master is republished after the promotion', async () => {
      await topology.restoreReplica();
      // The replica misses the next write: it only ever reached the master killed below.
      await topology.pauseReplicaOf(cfgKey, true);
      let written: CompiledConfig;
      try {
        written = await publishAndWait(6);
        await topology.killMasterOf(cfgKey);
      } finally {
        await topology.pauseReplicaOf(cfgKey, false);
      }
      for (const s of sidecars) await expectBudget(upstream, s, 3, pending);
      await topology.waitPromoted(cfgKey);
      // The operator notices the failover and writes the policy again, above the version the
      // sidecars already enforce (they never go back to an older one).
      const doc = await waitFor('the lost write republished', async () => {
        const d = await stored().catch(() => null);
        return d && d.classes[0].policyLimit === 6 && d.version > written.version ? d : undefined;
      }, 30_000, 50);
      await bothAt(doc.version);
      for (const s of sidecars) await expectBudget(upstream, s, 3, pending);
      expect(operator.exited).toBe(false);
    }, 180_000);
  });
}

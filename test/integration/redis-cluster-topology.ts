/** The Cluster topology as redis-failover-support.ts drives it (plain and TLS suites). */
import { ClusterTopology } from '../support/redis-topology.js';
import type { Topology } from './redis-failover-support.js';

export async function clusterTopology(tls: boolean): Promise<Topology> {
  const t = await ClusterTopology.start({ tls });
  let killed = 0;
  let paused: number[] = [];
  return {
    url: t.url,
    caFile: t.caFile,
    client: () => t.client(),
    killMasterOf: async (key) => {
      killed = await t.masterOf(key);
      await t.kill(killed);
    },
    waitPromoted: async (key) => void (await t.waitFailover(key, killed)),
    restoreReplica: () => t.revive(killed),
    pauseReplicaOf: async (key, pause) => {
      if (pause) paused = await t.masterAndReplicaOf(key);
      await t.pauseReplica(paused[0], paused[1], pause);
    },
    stop: () => t.stop(),
  };
}

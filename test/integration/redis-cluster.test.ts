/** Redis Cluster (3 masters + 3 replicas): see redis-failover-support.ts. */
import { ClusterTopology } from '../support/redis-topology.js';
import { describeFailover } from './redis-failover-support.js';

describeFailover('Cluster', async () => {
  const t = await ClusterTopology.start();
  let killed = 0;
  let paused: number[] = [];
  return {
    url: t.url,
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
});

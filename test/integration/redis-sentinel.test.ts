/** Redis Sentinel (a master, a replica, three Sentinels from Debian): see redis-failover-support.ts. */
import { SentinelTopology } from '../support/redis-topology.js';
import { describeFailover } from './redis-failover-support.js';

describeFailover('Sentinel', async () => {
  const t = await SentinelTopology.start();
  return {
    url: t.url,
    // One master holds every key.
    killMasterOf: () => t.killMaster(),
    waitPromoted: () => t.waitPromoted(),
    restoreReplica: () => t.reviveReplica(),
    pauseReplicaOf: (_key, paused) => t.pauseReplica(paused),
    stop: () => t.stop(),
  };
});

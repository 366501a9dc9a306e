/** The Sentinel topology as redis-failover-support.ts drives it (plain and TLS suites). */
import { SentinelTopology } from '../support/redis-topology.js';
import type { Topology } from './redis-failover-support.js';

export async function sentinelTopology(tls: boolean): Promise<Topology> {
  const t = await SentinelTopology.start({ tls });
  return {
    url: t.url,
    caFile: t.caFile,
    client: () => t.client(),
    // One master holds every key.
    killMasterOf: () => t.killMaster(),
    waitPromoted: () => t.waitPromoted(),
    restoreReplica: () => t.reviveReplica(),
    pauseReplicaOf: (_key, paused) => t.pauseReplica(paused),
    stop: () => t.stop(),
  };
}

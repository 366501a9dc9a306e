/** Redis Sentinel (a master, a replica, three Sentinels from Debian): see redis-failover-support.ts. */
import { describeFailover } from './redis-failover-support.js';
import { sentinelTopology } from './redis-sentinel-topology.js';

describeFailover('Sentinel', false, () => sentinelTopology(false));

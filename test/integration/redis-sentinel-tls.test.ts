/** Redis Sentinel over TLS (`rediss+sentinel://`, every link TLS): see redis-failover-support.ts. */
import { describeFailover } from './redis-failover-support.js';
import { sentinelTopology } from './redis-sentinel-topology.js';

describeFailover('Sentinel', true, () => sentinelTopology(true));

/** Redis Cluster (3 masters + 3 replicas): see redis-failover-support.ts. */
import { clusterTopology } from './redis-cluster-topology.js';
import { describeFailover } from './redis-failover-support.js';

describeFailover('Cluster', false, () => clusterTopology(false));

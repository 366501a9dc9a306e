/** Redis Cluster over TLS (`rediss+cluster://`, clients, replication and the bus): see redis-failover-support.ts. */
import { clusterTopology } from './redis-cluster-topology.js';
import { describeFailover } from './redis-failover-support.js';

describeFailover('Cluster', true, () => clusterTopology(true));

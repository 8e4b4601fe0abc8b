/**
 * The ACL lines of docs/shared-cache.md ("ACL users"), written once for the e2e files that run as
 * a least-privilege user. What the shared cache needs, and nothing else: its own keys, and the
 * commands of the store and of its scripts (the read and the lock's, which run GET, SET, DEL,
 * PEXPIRE and PTTL inside EVAL).
 */
export const CACHE_RULES = ['resetkeys', '~client-credentials:*', '-@all'].concat(
  ['get', 'set', 'del', 'eval', 'pexpire', 'pttl'].map((c) => `+${c}`),
);

/**
 * A Redis Cluster's line: node-redis's cluster client reads the slot map with CLUSTER SLOTS, and
 * the library probes a node with PING before it re-reads the map after a failover.
 */
export const CLUSTER_RULES = [...CACHE_RULES, '+cluster|slots', '+ping'];

// The Redis client as the shared cache sees it is typed structurally (`RedisClientLike`, a public
// contract in shared-cache.options.ts), not by node-redis's generic client types: this file must
// not import `@keyv/redis` (an optional peer of the package).
import type { RedisClientLike } from '../shared-cache.options';

/** Where the shared cache lives: one Redis, a Redis Cluster, or a master behind Sentinel. */
export type RedisTopology = 'standalone' | 'cluster' | 'sentinel';

/** Which kind of node-redis client `client` is. */
export function topologyOf(client: RedisClientLike): RedisTopology {
  if (Array.isArray(client.masters)) return 'cluster';
  if (typeof client.getMasterNode === 'function') return 'sentinel';
  return 'standalone';
}

/**
 * Whether a cluster client knows its masters (its slot map has been read: node-redis's `masters`
 * is empty before, and during a re-read only between two statements) and one of their node clients
 * is ready. A cluster is "open" from the start of connect(), before it knows a single slot.
 */
export function knowsReadyMaster(cluster: RedisClientLike): boolean {
  const masters = (cluster.masters ?? []) as ReadonlyArray<{ client?: { isReady?: boolean } }>;
  return masters.some((m) => m.client?.isReady === true);
}

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

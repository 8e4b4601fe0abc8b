// The Redis client as the shared cache sees it: typed by the few members it uses, not by
// node-redis's generic client types. This file must not import `@keyv/redis` (an optional peer
// of the package): `SharedCacheOptions` names `RedisClientLike`, so the package's declarations
// reach this file, and an app compiled without that peer must still type-check them.

/** Where the shared cache lives: one Redis, a Redis Cluster, or a master behind Sentinel. */
export type RedisTopology = 'standalone' | 'cluster' | 'sentinel';

/**
 * The commands the store and the lock send, each naming one key: the same calls work on a client,
 * a cluster (routed by the key's slot) and a sentinel set (sent to the current master).
 */
export interface RedisCommands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { NX?: true; PX: number }): Promise<string | null>;
  del(key: string): Promise<number>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * A node-redis client, as far as the shared cache uses it: `createClient` (RESP2 or RESP3),
 * `createCluster` or `createSentinel` from `@keyv/redis` (or `redis` / `@redis/client` 5), connected
 * or not. Its replies must be strings (no `typeMapping` that turns them into buffers).
 *
 * The library sends `GET`, `SET … PX`, `DEL` and `EVAL`, listens to the client's events, opens it
 * with `connect()` when it is not open yet, and never closes a client the app passed.
 *
 * @example
 * ```ts
 * import { createClient } from '@keyv/redis';
 * import { ClientCredentialsModule } from 'nest-client-credentials';
 *
 * // The app's own client (RESP3 here): the library uses it and never closes it.
 * const redis = createClient({ url: process.env.REDIS_URL, RESP: 3 });
 *
 * ClientCredentialsModule.forRoot({
 *   credentials: {
 *     api: {
 *       tenantId: process.env.AZURE_TENANT_ID!,
 *       clientId: process.env.AZURE_CLIENT_ID!,
 *       sources: [{ type: 'secret', secret: process.env.AZURE_CLIENT_SECRET! }],
 *     },
 *   },
 *   cache: {
 *     shared: {
 *       redisClient: redis,
 *       encryptionKeys: [{ id: 'k1', key: process.env.TOKEN_CACHE_KEY! }],
 *     },
 *   },
 * });
 * ```
 * @publicApi
 */
export interface RedisClientLike extends RedisCommands {
  /** Whether the client has been opened (`connect()` called) and not closed since. */
  readonly isOpen: boolean;
  /** Whether commands can be sent now (a client or sentinel; a cluster has none). */
  readonly isReady?: boolean;
  connect(): Promise<unknown>;
  destroy(): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** A cluster's masters (a cluster only). */
  readonly masters?: readonly unknown[];
  /** Where the current master is (a sentinel set only). */
  getMasterNode?(): unknown;
}

/** Which kind of node-redis client `client` is. */
export function topologyOf(client: RedisClientLike): RedisTopology {
  if (Array.isArray(client.masters)) return 'cluster';
  if (typeof client.getMasterNode === 'function') return 'sentinel';
  return 'standalone';
}

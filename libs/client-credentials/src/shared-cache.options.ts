/** One AES-256 key of the shared cache. */
export interface SharedCacheKey {
  /**
   * A short, non-secret name written into every entry sealed with this key (letters, digits,
   * `_` and `-`, at most 32), so that replicas know which key opens an entry.
   */
  id: string;
  /** 32 random bytes as base64 (44 characters) or hex (64 characters), e.g. `openssl rand -base64 32`. Never logged. */
  key: string;
}

/**
 * A Redis Cluster: the library's node-redis cluster client discovers the slot map from `nodes`,
 * follows MOVED/ASK redirections and re-reads the map when a master fails over.
 * @publicApi
 */
export interface SharedCacheClusterOptions {
  /**
   * Some nodes of the cluster as `redis://host:port` or `rediss://host:port` (TLS), all with the
   * same scheme and without credentials (set `username` / `password`). Three are enough: the
   * others are discovered. With Azure Cache for Redis or ElastiCache, the configuration endpoint.
   */
  nodes: string[];
}

/**
 * A master watched by Redis Sentinel: the library asks the sentinels where the master is and
 * follows a failover without a restart.
 * @publicApi
 */
export interface SharedCacheSentinelOptions {
  /** The name the sentinels monitor the master under (`sentinel monitor <name> …`). */
  masterName: string;
  /**
   * Sentinels as `redis://host:port` or `rediss://host:port` (TLS to the sentinels and to the
   * data nodes), all with the same scheme and without credentials. `username` / `password` /
   * `passwordProvider` log in to the master; the sentinels are reached without a login.
   */
  nodes: string[];
}

/**
 * A token cache shared by replicas: process memory (L1) in front of Redis (L2), entries encrypted
 * at rest, and one token request across all replicas for a token none of them has.
 * Set exactly one of `redisUrl` (one Redis), `cluster`, `sentinel` or `redisClient`.
 * @publicApi
 */
export interface SharedCacheOptions {
  /** `redis://[[user]:password@]host:port[/db]` or `rediss://…` (TLS): a single Redis. */
  redisUrl?: string;
  /** A Redis Cluster (Azure Cache for Redis and ElastiCache in cluster mode, self-run clusters). */
  cluster?: SharedCacheClusterOptions;
  /** A master behind Redis Sentinel. */
  sentinel?: SharedCacheSentinelOptions;
  /**
   * A node-redis client the app already has (`createClient`, RESP2 or RESP3, `createCluster` or
   * `createSentinel` from `@keyv/redis`), connected or not: its own credentials and TLS settings
   * apply. The library uses it but never closes it. Typed by the members the library uses
   * ({@link RedisClientLike}), so this package's types do not need `@keyv/redis` installed.
   */
  redisClient?: RedisClientLike;
  /**
   * ACL user to log in as (Redis 6+). With `redisUrl` it may be in the URL instead.
   * @default the `default` user
   */
  username?: string;
  /** Password of `username` (or of the `default` user). Never logged. Not with `passwordProvider`. */
  password?: string;
  /**
   * Called before every new connection (and reconnection) for the password to log in with:
   * a rotating password from a vault, or a Microsoft Entra ID access token for Azure Cache for
   * Redis (`username` is then the object id of the identity). Whatever it throws fails that
   * connection attempt, which is retried with backoff. Each call is bounded by `connectTimeoutMs`
   * (a connection attempt's time, of which the password is a part; node-redis applies no timeout
   * of its own while it waits for it): a call that has not settled by then fails the attempt as
   * a throw does, with an error naming `cache.shared.passwordProvider`, and the reconnection asks
   * again — a call stuck for ever cannot end Redis use. Raise `connectTimeoutMs` for a provider
   * slower than that.
   */
  passwordProvider?: () => Promise<string> | string;
  /**
   * Extra CA certificates (PEM) to trust for `rediss://` nodes, e.g. a private CA. Public roots
   * stay trusted, as with a credential's `ca`.
   */
  ca?: string | string[];
  /**
   * AES-256-GCM keys of the entries written to Redis. The first one seals new entries; all of them
   * open entries (rotation: put the new key first, drop the old one once its tokens expired —
   * an hour for Entra tokens). Every replica needs the same keys.
   */
  encryptionKeys: SharedCacheKey[];
  /**
   * Longest wait for one Redis command; past it the command counts as failed and the caller goes
   * on as if Redis had no entry.
   * @default 200
   */
  operationTimeoutMs?: number;
  /**
   * Longest wait for the first connection at startup; a Redis that is not up by then is connected
   * to in the background, and tokens are fetched directly meanwhile. Also the bound of each
   * `passwordProvider` call.
   * @default 2000
   */
  connectTimeoutMs?: number;
  /**
   * Let one replica fetch a token that none has (or refresh one that all have) while the others
   * wait for its result in Redis.
   * @default true
   */
  crossProcessLock?: boolean;
  /**
   * Expiry of the lock a replica holds while it fetches a token. The holder extends it every
   * third of this while its fetch runs, however slow the authority; a replica that dies holding
   * it frees it by expiry, so this is also how long a dead holder can block the others.
   * @default 3000
   */
  lockTtlMs?: number;
  /**
   * Longest a replica waits for another replica's token before it fetches one itself. A waiter
   * stops earlier when the holder's lock is gone without a token (the holder died: one waiter
   * takes the lock) or when the holder published its failure (the waiter throws that error), and
   * fetches itself when one request's time (`timeouts.requestMs`, at most half of
   * `timeouts.acquireMs`) is left before its caller's deadline: 20 s with the defaults.
   * @default `timeouts.acquireMs` + `timeouts.requestMs` (40000)
   */
  lockWaitMs?: number;
  /**
   * How soon a waiting replica first looks for the token in Redis; each later look comes 1.5 times
   * later than the one before, up to 4 × `lockPollMs` apart.
   * @default 50
   */
  lockPollMs?: number;
  /**
   * Redis errors are counted always but logged at most once per this interval.
   * @default 30000
   */
  errorLogIntervalMs?: number;
}

/**
 * The commands the store and the lock send, each naming one key: the same calls work on a client,
 * a cluster (routed by the key's slot) and a sentinel set (sent to the current master). Strings
 * may come back as Buffers (a client's type mapping): they are read as text.
 */
export interface RedisCommands {
  /** `GET key`. */
  get(key: string): Promise<string | Buffer | null>;
  /** `SET key value PX ms [NX]`. */
  set(
    key: string,
    value: string,
    options: { NX?: true; PX: number },
  ): Promise<string | Buffer | null>;
  /** `DEL key`. */
  del(key: string): Promise<number>;
  /** `EVAL script 1 key args…` (the store's size-capped read, the lock's compare-and-set scripts). */
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * A node-redis client, as far as the shared cache uses it: `createClient` (RESP2 or RESP3),
 * `createCluster` or `createSentinel` from `@keyv/redis` (or `redis` / `@redis/client` 5), connected
 * or not. A type mapping may answer strings as Buffers (`withTypeMapping({ [RESP_TYPES.BLOB_STRING]:
 * Buffer })`), not integers as strings: checked at startup, which such a client fails (a
 * `ConfigurationError`; pass `client.withTypeMapping({})`).
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
  /** Opens the client (called only when it is not open yet). */
  connect(): Promise<unknown>;
  /** Closes a client the library created (never one the app passed). */
  destroy(): unknown;
  /** Listens to `error`, `ready`, and a cluster's node events. */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Stops listening (at shutdown). */
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** A cluster's masters (a cluster only). */
  readonly masters?: readonly unknown[];
  /** Where the current master is (a sentinel set only). */
  getMasterNode?(): unknown;
}

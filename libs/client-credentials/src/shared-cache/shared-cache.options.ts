import type { RedisClientType } from '@keyv/redis';

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
 * A token cache shared by replicas: process memory (L1) in front of Redis (L2), entries encrypted
 * at rest, and one token request across all replicas for a token none of them has.
 * Set `redisUrl` or `redisClient`.
 * @publicApi
 */
export interface SharedCacheOptions {
  /** `redis://[[user]:password@]host:port[/db]` or `rediss://…` (TLS). */
  redisUrl?: string;
  /**
   * A node-redis client the app already has (e.g. `createClient` from `@keyv/redis`), connected or
   * not. The library uses it but never closes it.
   */
  redisClient?: RedisClientType;
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
   * to in the background, and tokens are fetched directly meanwhile.
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
   * takes the lock) or when the holder published its failure (the waiter throws that error).
   * @default `timeouts.acquireMs` + `timeouts.requestMs` (40000): as long as a holder may take
   */
  lockWaitMs?: number;
  /**
   * How often a waiting replica looks for the token in Redis.
   * @default 50
   */
  lockPollMs?: number;
  /**
   * Redis errors are counted always but logged at most once per this interval.
   * @default 30000
   */
  errorLogIntervalMs?: number;
}

/** A decoded encryption key. */
export interface DecodedKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * The secrets of `cache.shared` after validation: the Redis URL (it may hold a password) and the
 * decoded keys, in `#private` fields. The resolved options are kept by several services; a
 * property walk of any of them (`inspect` with `customInspect: false`, a serialiser) sees `{}`.
 */
export class SharedCacheSecrets {
  readonly #redisUrl?: string;
  readonly #keys: readonly DecodedKey[];

  constructor(redisUrl: string | undefined, keys: readonly DecodedKey[]) {
    this.#redisUrl = redisUrl;
    this.#keys = keys;
  }

  /** The `redisUrl` option. */
  redisUrl(): string | undefined {
    return this.#redisUrl;
  }

  /** The decoded `encryptionKeys`; the first one writes. */
  encryptionKeys(): readonly DecodedKey[] {
    return this.#keys;
  }
}

/** {@link SharedCacheOptions} after validation, with defaults applied. */
export interface ResolvedSharedCacheOptions extends Required<
  Omit<SharedCacheOptions, 'redisUrl' | 'redisClient' | 'encryptionKeys'>
> {
  readonly redisClient?: RedisClientType;
  /** `redisUrl` and the decoded `encryptionKeys`, out of reach of a property walk. */
  readonly secrets: SharedCacheSecrets;
}

/** Defaults of {@link SharedCacheOptions} (`lockWaitMs` is derived from `timeouts`). */
export const SHARED_CACHE_DEFAULTS = {
  operationTimeoutMs: 200,
  connectTimeoutMs: 2000,
  crossProcessLock: true,
  lockTtlMs: 3000,
  lockPollMs: 50,
  errorLogIntervalMs: 30_000,
} as const;

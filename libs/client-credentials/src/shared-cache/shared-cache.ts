import type { LoggerService } from '@nestjs/common';
import { CacheableMemory } from '@cacheable/memory';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import { CrossProcessFlight } from './cross-process-flight';
import { KeyNamer } from './key-names';
import type { ResolvedSharedCacheOptions } from './shared-cache.options';
import { ErrorReporter, newSharedCacheStats, SharedCacheStats } from './shared-cache-stats';
import { TokenCipher } from './token-cipher';

/** The token store of a service with a shared cache, and what coordinates its replicas. */
export interface SharedCache {
  /** cache-manager multi-store: process memory (L1), then encrypted Redis (L2). */
  readonly store: Cache;
  /** Present unless `crossProcessLock` is false. */
  readonly flight?: CrossProcessFlight;
  readonly stats: SharedCacheStats;
  close(): Promise<void>;
}

/** An in-memory cache-manager store bounded to `maxEntries`. */
export function memoryKeyv(maxEntries: number): Keyv {
  return new Keyv({ store: new CacheableMemory({ lruSize: maxEntries, checkInterval: 0 }) });
}

/**
 * Builds L1 + L2 and connects to Redis, waiting at most `connectTimeoutMs`: a Redis that is down
 * at startup does not fail the app; the connection keeps being retried in the background.
 */
export async function createSharedCache(
  options: ResolvedSharedCacheOptions,
  maxEntries: number,
  keyPrefix: string,
  logger: LoggerService,
): Promise<SharedCache> {
  // Loaded here, not at the top: @keyv/redis is an optional peer of the package, needed only by
  // apps that use `cache.shared` — the others import the library without installing it.
  const [{ RedisConnection }, { EncryptedStore }, { DistributedLock }] = await Promise.all([
    import('./redis-connection'),
    import('./encrypted-store'),
    import('./distributed-lock'),
  ]);
  const stats = newSharedCacheStats();
  const reporter = new ErrorReporter(stats, logger, options.errorLogIntervalMs);
  const keys = options.secrets.encryptionKeys();
  const connection = new RedisConnection(
    { redisUrl: options.secrets.redisUrl(), redisClient: options.redisClient },
    options.operationTimeoutMs,
    stats,
    reporter,
  );
  const cipher = new TokenCipher(keys);
  const names = new KeyNamer(keyPrefix, keys);
  const l2 = new Keyv({
    store: new EncryptedStore(connection, cipher, names, stats),
    useKeyPrefix: false,
  });
  l2.on('error', () => undefined);
  const store = createCache({ stores: [memoryKeyv(maxEntries), l2] });
  const flight = options.crossProcessLock
    ? new CrossProcessFlight(
        new DistributedLock(connection, names, cipher, options.lockTtlMs),
        { waitMs: options.lockWaitMs, pollMs: options.lockPollMs, ttlMs: options.lockTtlMs },
        stats,
      )
    : undefined;
  stats.connected = await connection.connect(options.connectTimeoutMs);
  return {
    store,
    flight,
    stats,
    close: async () => {
      await store.disconnect().catch(() => undefined);
      await connection.close();
      stats.connected = false;
    },
  };
}

import type { LoggerService } from '@nestjs/common';
import { createCache, type Cache } from 'cache-manager';
import { CrossProcessFlight } from './cross-process-flight';
import { KeyNamer } from './key-names';
import type { ConnectionFields } from './redis-connection';
import type { ResolvedSharedCacheOptions } from '../options/resolved-shared-cache';
import { ErrorReporter, newSharedCacheStats, SharedCacheStats } from './shared-cache-stats';
import { TokenCipher } from './token-cipher';

/** The token store of a service with a shared cache, and what coordinates its replicas. */
export interface SharedCache {
  /** cache-manager cache of encrypted Redis entries, behind the token cache's in-process index. */
  readonly store: Cache;
  /** Present unless `crossProcessLock` is false. */
  readonly flight?: CrossProcessFlight;
  readonly stats: SharedCacheStats;
  /** Calls `listener` when Redis is usable again after an outage or a failover. */
  onRecovered(listener: () => void): void;
  close(): Promise<void>;
}

/**
 * Builds the encrypted Redis store and connects, waiting at most `connectTimeoutMs`: a Redis down
 * at startup does not fail the app; the connection keeps being retried in the background. A login
 * Redis refuses, a TLS certificate it cannot trust, or an ACL short of a command the cache sends
 * (checked once connected: access-check.ts) does fail it (a `ConfigurationError`).
 */
export async function createSharedCache(
  options: ResolvedSharedCacheOptions,
  keyPrefix: string,
  logger: LoggerService,
): Promise<SharedCache> {
  // Loaded here, not at the top: @keyv/redis is an optional peer of the package, needed only by
  // apps that use `cache.shared` — the others import the library without installing it.
  const [
    { RedisConnection },
    { createRedisClient, watchMasterSwitch },
    { EncryptedStore, keyvOf },
    { DistributedLock },
    { checkAccess },
  ] = await Promise.all([
    import('./redis-connection'),
    import('./redis-clients'),
    import('./encrypted-store'),
    import('./distributed-lock'),
    import('./access-check'),
  ]);
  const stats = newSharedCacheStats();
  const reporter = new ErrorReporter(stats, logger, options.errorLogIntervalMs);
  const keys = options.secrets.encryptionKeys();
  const fields = connectionFields(options);
  const connection = new RedisConnection(
    options.redisClient === undefined
      ? {
          owned: true,
          create: () => createRedisClient(options),
          watch: (onSwitch) => watchMasterSwitch(options, onSwitch),
        }
      : { owned: false, client: options.redisClient },
    fields,
    options.operationTimeoutMs,
    stats,
    reporter,
  );
  const cipher = new TokenCipher(keys);
  const names = new KeyNamer(keyPrefix, keys);
  const l2 = keyvOf(new EncryptedStore(connection, cipher, names, stats));
  // Redis alone: the token cache's in-process index is the memory level (a memory store here
  // would only keep a second, serialised copy of every token).
  const store = createCache({ stores: [l2] });
  const flight = options.crossProcessLock
    ? new CrossProcessFlight(
        new DistributedLock(connection, names, cipher, options.lockTtlMs),
        { waitMs: options.lockWaitMs, pollMs: options.lockPollMs, ttlMs: options.lockTtlMs },
        stats,
      )
    : undefined;
  stats.connected = await connection.connect(options.connectTimeoutMs);
  if (stats.connected) {
    // Every command it will send, checked now: an ACL short of one fails startup, as a refused
    // login does, rather than leaving a cache that writes and never reads.
    stats.commands++;
    const refused = await checkAccess(
      connection,
      names.probe(),
      { lock: options.crossProcessLock, cluster: connection.isCluster },
      fields,
      options.operationTimeoutMs,
      reporter,
    );
    if (refused !== undefined) {
      await connection.close();
      throw refused;
    }
  }
  return {
    store,
    flight,
    stats,
    onRecovered: (listener) => connection.onRecovered(listener),
    close: async () => {
      await store.disconnect().catch(() => undefined);
      await connection.close();
      stats.connected = false;
    },
  };
}

/** The options a refused login or an untrusted certificate is reported under. */
function connectionFields(o: ResolvedSharedCacheOptions): ConnectionFields {
  if (o.redisClient !== undefined) return { login: 'redisClient', trust: 'redisClient' };
  const url = o.secrets.redisUrl();
  // Credentials are given in one place only (validated): the URL, or the login options.
  const login =
    o.secrets.passwordProvider() !== undefined
      ? 'passwordProvider'
      : url !== undefined && /^rediss?:\/\/[^/]*@/.test(url)
        ? 'redisUrl'
        : 'password';
  return { login, trust: 'ca' };
}

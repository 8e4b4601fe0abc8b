import { createHash } from 'node:crypto';
import type KeyvRedis from '@keyv/redis';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import { RedisConnection, UNAVAILABLE } from './redis-connection';
import type { SharedCacheStats } from './shared-cache-stats';
import type { TokenCipher } from './token-cipher';

/**
 * Redis name of a cache key: the prefix and a SHA-256 of the key. The key names authority,
 * tenant, client, credential and scopes (no secret); hashing keeps even those out of Redis's
 * key space. The hash is keyed by nothing secret, so rotating encryption keys keeps the names.
 */
export function redisKeyOf(prefix: string, kind: 't' | 'lock', key: string): string {
  return `${prefix}${kind}:${createHash('sha256').update(key).digest('base64url')}`;
}

/**
 * The L2 store as Keyv sees it: each entry sealed (AES-256-GCM, its Redis key authenticated) on
 * the way to Redis and opened on the way back. An entry that does not open is a miss, counted,
 * never returned. Every command is time-bounded and never throws (Redis trouble is a miss).
 */
export class EncryptedStore implements KeyvStoreAdapter {
  opts: Record<string, unknown> = { dialect: 'encrypted-redis' };
  namespace?: string;

  constructor(
    private readonly redis: KeyvRedis<string>,
    private readonly connection: RedisConnection,
    private readonly cipher: TokenCipher,
    private readonly prefix: string,
    private readonly stats: SharedCacheStats,
  ) {}

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return (await this.getMany<Value>([key]))[0] as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const ids = keys.map((k) => redisKeyOf(this.prefix, 't', k));
    const values = await this.connection.run('reading a token', () => this.redis.getMany(ids));
    if (values === UNAVAILABLE) return keys.map(() => undefined);
    return values.map((sealed, i) => {
      if (sealed === undefined || sealed === null) return undefined;
      const opened = this.cipher.open(sealed, ids[i]);
      if (opened === 'unknown-key') {
        this.stats.unknownKeyEntries++;
        return undefined;
      }
      if (opened === 'rejected') {
        this.stats.rejectedEntries++;
        return undefined;
      }
      this.stats.reads++;
      return opened.plain as StoredData<Value>;
    });
  }

  async set(key: string, value: unknown, ttl?: number): Promise<void> {
    // A token entry always has a TTL; an entry without one would outlive its token.
    if (ttl === undefined || ttl <= 0 || typeof value !== 'string') return;
    const id = redisKeyOf(this.prefix, 't', key);
    const sealed = this.cipher.seal(value, id);
    const done = await this.connection.run('writing a token', () =>
      this.redis.set(id, sealed, Math.ceil(ttl)),
    );
    if (done !== UNAVAILABLE) this.stats.writes++;
  }

  async delete(key: string): Promise<boolean> {
    const id = redisKeyOf(this.prefix, 't', key);
    const done = await this.connection.run('deleting a token', () => this.redis.delete(id));
    return done === true;
  }

  /** Never flushes: the Redis may be shared with other data and other replicas. */
  async clear(): Promise<void> {}

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  /** The connection is closed by its owner, not through Keyv. */
  async disconnect(): Promise<void> {}

  // Keyv subscribes to 'error'; this store never emits (failures are counted and rate-logged).
  on(): this {
    return this;
  }
}

import { randomBytes } from 'node:crypto';
import { Keyv } from 'keyv';
import { EncryptedStore, keyvOf } from './encrypted-store';
import { KeyNamer } from './key-names';
import { UNAVAILABLE, type RedisConnection } from './redis-connection';
import { newSharedCacheStats } from './shared-cache-stats';
import { TokenCipher } from './token-cipher';

/**
 * One Redis in memory: the read script (GET), SET PX, DEL (counted). `reply` maps what it answers,
 * as a client's type mapping does.
 */
class FakeRedis {
  readonly data = new Map<string, { value: string; expiresAt: number }>();
  dels = 0;
  reply: (value: string) => unknown = (v) => v;

  async eval(_script: string, o: { keys: string[] }): Promise<unknown> {
    const e = this.data.get(o.keys[0]);
    return e === undefined || e.expiresAt <= performance.now() ? null : this.reply(e.value);
  }

  // Redis keeps time by its own clock (a length of time: PX), not by a replica's Date.now().
  async set(key: string, value: string, o: { PX: number }): Promise<string> {
    this.data.set(key, { value, expiresAt: performance.now() + o.PX });
    return 'OK';
  }

  async del(key: string): Promise<number> {
    this.dels++;
    return this.data.delete(key) ? 1 : 0;
  }
}

const keys = [{ id: 'k1', key: randomBytes(32) }];

/** A replica's shared store over `redis`: its Keyv, and its counts. */
function replica(redis: FakeRedis) {
  const connection = {
    client: redis,
    run: async <T>(_what: string, op: () => Promise<T>) => op().catch(() => UNAVAILABLE),
  } as unknown as RedisConnection;
  const stats = newSharedCacheStats();
  const store = new EncryptedStore(
    connection,
    new TokenCipher(keys),
    new KeyNamer('p:', keys),
    stats,
  );
  return { store, keyv: keyvOf(store), stats };
}

const storeKey = 'k|t1|api://x/.default';

/** Runs `read` with this replica's wall clock `ms` ahead. */
async function ahead<T>(ms: number, read: () => Promise<T>): Promise<T> {
  const real = Date.now.bind(Date);
  const spy = jest.spyOn(Date, 'now').mockImplementation(() => real() + ms);
  try {
    return await read();
  } finally {
    spy.mockRestore();
  }
}

describe('EncryptedStore', () => {
  it('a replica whose wall clock is ahead reads entries as they are, and deletes none', async () => {
    const redis = new FakeRedis();
    const writer = replica(redis);
    await writer.keyv.set(storeKey, { v: 1 }, 30 * 60_000);
    const name = [...redis.data.keys()][0];

    // 40 minutes ahead: Keyv's expiry (the writer's Date.now() + 30 min) would call it over and
    // DEL it. Whether its token is usable is the token cache's call, by the token's own times.
    const reader = replica(redis);
    expect(await ahead(40 * 60_000, () => reader.keyv.getMany([storeKey]))).toEqual([{ v: 1 }]);

    expect(redis.dels).toBe(0);
    expect(redis.data.has(name)).toBe(true);
    // Still there for every replica whose clock is right.
    expect(await writer.keyv.getMany([storeKey])).toEqual([{ v: 1 }]);
  });

  it('reads an entry an earlier version wrote with Keyv’s `expires`, past it, and deletes none', async () => {
    const redis = new FakeRedis();
    const { store, keyv, stats } = replica(redis);
    // As earlier versions wrote: Keyv's own envelope, with the writer's wall-clock expiry.
    const old = new Keyv({ store, useKeyPrefix: false });
    await old.set(storeKey, { v: 1 }, 60_000);

    expect(await ahead(120_000, () => keyv.getMany([storeKey]))).toEqual([{ v: 1 }]);
    expect(redis.dels).toBe(0);
    expect(stats.reads).toBe(1);
  });

  it('reads entries a client answers as Buffers; a reply of another type is a miss, not a tampered entry', async () => {
    const redis = new FakeRedis();
    const writer = replica(redis);
    await writer.keyv.set(storeKey, { v: 1 }, 60_000);

    redis.reply = (v) => Buffer.from(v);
    const reader = replica(redis);
    expect(await reader.keyv.getMany([storeKey])).toEqual([{ v: 1 }]);
    expect(reader.stats).toMatchObject({ reads: 1, rejectedEntries: 0 });

    redis.reply = (v) => new Map([['value', v]]);
    const other = replica(redis);
    expect(await other.keyv.getMany([storeKey])).toEqual([undefined]);
    expect(other.stats).toMatchObject({ reads: 0, rejectedEntries: 0 });
  });
});

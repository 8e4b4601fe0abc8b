import { Keyv, type KeyvStoreAdapter, type StoredData } from 'keyv';
import type { KeyNamer } from './key-names';
import { RedisConnection, UNAVAILABLE } from './redis-connection';
import { textReply } from './redis-replies';
import type { SharedCacheStats } from './shared-cache-stats';
import { MAX_SEALED_LENGTH, type TokenCipher } from './token-cipher';

// GET, but a value longer than ARGV[1] never crosses the wire: 0 instead (a sealed entry is a
// string; the integer cannot be one). The length is read in the script, by Lua, not with STRLEN,
// so the user's ACL needs no command beyond the lock's (EVAL, GET). One key: cluster-safe.
// Run once at connect too, on a probe key (access-check.ts): an ACL without `+eval` fails startup.
export const READ = `local v = redis.call('get', KEYS[1])
if v and #v > tonumber(ARGV[1]) then return 0 end
return v`;
/** The read script's ARGV[1]: the longest value it answers. */
export const READ_CAP = String(MAX_SEALED_LENGTH);

/**
 * The Keyv of an {@link EncryptedStore}, without Keyv's wall-clock expiry. Keyv keeps in each
 * entry `expires` — the writer's `Date.now()` plus the TTL — and on a read drops an entry the
 * reader's `Date.now()` says is over, and DELs it: a replica whose clock is ahead (or stepped
 * forward) would purge every replica's live entries. Redis's own PX (a length of time, no clock)
 * bounds an entry, and the token cache judges a token read by its own times (`boundedByClocks`,
 * `usableUntil`): the envelope is written in Keyv's own format without `expires`, and any
 * `expires` read (an entry of an earlier version's replica) is dropped.
 */
export function keyvOf(store: EncryptedStore): Keyv {
  const keyv = new Keyv({ store, useKeyPrefix: false });
  // Keyv's own (@keyv/serialize): the same text as before, which every version reads.
  const serialize = keyv.serialize!;
  const deserialize = keyv.deserialize!;
  keyv.serialize = ({ value }) => serialize({ value });
  keyv.deserialize = async <Value>(text: string) => {
    const data = await deserialize<Value>(text);
    return data === undefined || data === null ? undefined : { value: data.value };
  };
  keyv.on('error', () => undefined);
  return keyv;
}

/**
 * The L2 store as Keyv sees it: each entry sealed (AES-256-GCM, its Redis name authenticated) on
 * the way to Redis and opened on the way back. An entry that does not open is a miss, counted,
 * never returned. Every command is time-bounded and never throws (Redis trouble is a miss).
 * Only single-key commands (a read script, SET): the names of one read belong to different
 * tokens and would sit in different Redis Cluster slots. A value longer than any sealed token is
 * refused in Redis, never transferred ({@link MAX_SEALED_LENGTH}).
 */
export class EncryptedStore implements KeyvStoreAdapter {
  opts: Record<string, unknown> = { dialect: 'encrypted-redis' };
  namespace?: string;
  readonly #connection: RedisConnection;
  readonly #cipher: TokenCipher;
  readonly #names: KeyNamer;
  readonly #stats: SharedCacheStats;

  constructor(
    connection: RedisConnection,
    cipher: TokenCipher,
    names: KeyNamer,
    stats: SharedCacheStats,
  ) {
    this.#connection = connection;
    this.#cipher = cipher;
    this.#names = names;
    this.#stats = stats;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return (await this.getMany<Value>([key]))[0] as StoredData<Value> | undefined;
  }

  /**
   * Each key is looked up under its name of every encryption key, the current one first: during
   * a key rotation the entries written under the previous first key are still found.
   */
  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const names = keys.map((k) => this.#names.candidates('t', k));
    const client = this.#connection.client;
    // Issued together, so node-redis pipelines them: one round trip, one command per key.
    const all = names.flat();
    const values = await this.#connection.run(
      'reading a token',
      () => Promise.all(all.map((n) => client.eval(READ, { keys: [n], arguments: [READ_CAP] }))),
      all.length,
    );
    if (values === UNAVAILABLE) return keys.map(() => undefined);
    let at = 0;
    return names.map((candidates) => {
      const found = values.slice(at, (at += candidates.length));
      for (let i = 0; i < candidates.length; i++) {
        const opened = this.#open(textReply(found[i]), candidates[i]);
        if (opened !== undefined) return opened as StoredData<Value>;
      }
      return undefined;
    });
  }

  async set(key: string, value: unknown, ttl?: number): Promise<void> {
    // A token entry always has a TTL; an entry without one would outlive its token.
    if (ttl === undefined || ttl <= 0 || typeof value !== 'string') return;
    const name = this.#names.name('t', key);
    const sealed = this.#cipher.seal(value, name);
    const done = await this.#connection.run('writing a token', () =>
      this.#connection.client.set(name, sealed, { PX: Math.ceil(ttl) }),
    );
    if (done !== UNAVAILABLE) this.#stats.writes++;
  }

  /**
   * Never deletes: an entry leaves Redis when its PX runs out. A replica's DEL would be every
   * replica's loss — sent on one replica's judgement (its clock), under every key name, and not
   * compare-and-delete (a fresh entry written meanwhile would go too).
   */
  async delete(): Promise<boolean> {
    return false;
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

  /** The entry's plain text, or undefined (absent, or counted as not opening). */
  #open(sealed: unknown, name: string): string | undefined {
    if (sealed === null || sealed === undefined) return undefined;
    // Not a string, nor the read script's 0 (a value longer than any entry: planted or corrupt):
    // a reply of a type the client maps (checked at startup: access-check.ts) — no entry, and no
    // sign of a tampered one.
    if (typeof sealed !== 'string' && sealed !== 0) return undefined;
    const opened = this.#cipher.open(sealed, name);
    if (opened === 'unknown-key') {
      this.#stats.unknownKeyEntries++;
      return undefined;
    }
    if (opened === 'rejected') {
      this.#stats.rejectedEntries++;
      return undefined;
    }
    this.#stats.reads++;
    return opened.plain;
  }
}

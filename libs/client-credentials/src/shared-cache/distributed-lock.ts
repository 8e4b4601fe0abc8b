import { randomUUID } from 'node:crypto';
import type {
  ClientCredentialsError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../errors/client-credentials.errors';
import type { KeyNamer } from './key-names';
import { openFailure, sealFailure } from './lock-failure';
import { RedisConnection, UNAVAILABLE } from './redis-connection';
import { textReply } from './redis-replies';
import type { TokenCipher } from './token-cipher';

// Takes the lock (1), or answers the value that holds it. Every value we write expires within one
// lock TTL (a holder extends its lock by one TTL at a time, a failure record lives at most one):
// a value without an expiry (PTTL -1), or with more time left than a TTL, was left by no holder —
// a replayed copy, a hand-made key — and would block the token until it expires (for ever, or an
// hour for a `PX 3600000`): it is taken over in the same step, as a free lock would be.
// A value longer than ARGV[3] is answered 0, never transferred: a lock held by something no holder
// wrote, which expires (a failure record is under 2 KB; an owner id, 36 characters).
// `pcall`: an ACL user set up before PTTL was needed (docs/shared-cache.md) is refused it (the
// answer is then an error table, not a number); the lock then works as it did, without this
// check, rather than not at all.
const ACQUIRE = `if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local left = redis.pcall('pttl', KEYS[1])
if type(left) == 'number' and (left == -1 or left > tonumber(ARGV[2])) then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
end
local v = redis.call('get', KEYS[1])
if v and #v > tonumber(ARGV[3]) then return 0 end
return v`;
// The other scripts touch one key only, and only while it still holds the value we saw there (our
// owner id, or the stale record we take over): a holder whose lock expired and was taken by
// another replica must not release, extend or overwrite that lock.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
// A script may run twice: on a cluster, a command whose reply was lost (a failover, a dropped
// connection) is sent once more (bounded-command.ts), and the first may have run. So finding our
// own value already there is success: ACQUIRE answers our owner id, REPLACE answers 1.
const REPLACE = `local v = redis.call('get', KEYS[1])
if v == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
if v == ARGV[2] then return 1 end
return 0`;

// A lock's value is its owner's random id, or this marker and a sealed failure record.
const FAILED = 'failed:';
/** The longest lock value read back (characters); longer ones are a held lock, never decoded. */
export const MAX_LOCK_VALUE_LENGTH = 16 * 1024;

/** Outcome of {@link DistributedLock.tryAcquire}. */
export type LockAttempt =
  | { readonly state: 'acquired'; readonly owner: string }
  | { readonly state: 'held' }
  /** The last holder's request failed moments ago; its error, rebuilt. */
  | { readonly state: 'failed'; readonly error: ClientCredentialsError }
  | { readonly state: 'unavailable' };

/**
 * A single-instance Redis lock per token: `SET name owner NX PX ttl`, extended and released by
 * compare-and-set scripts. Written by hand rather than taken from `redlock`: its stable line (4.x)
 * targets ioredis and has not been released since 2022 (5.x is still a beta), while we hold a
 * node-redis client; and the lock only saves token requests — if it is lost (expiry, failover),
 * two replicas fetch the same token, which is harmless. So multi-master Redlock is not needed.
 *
 * A holder whose request failed replaces its lock with a sealed failure record, in one
 * compare-and-set: no waiter can find the lock free before the failure is there to read, and
 * the record keeps the lock taken for its short life (replicas fail fast meanwhile).
 *
 * Redis is not trusted to keep time: a record carries its own sealed expiry, and one past it is a
 * free lock (taken over by compare-and-set); a lock value without an expiry is taken over too.
 * Whoever can write to Redis can then make replicas fetch, never stop them fetching.
 * Every command names one key, so the lock works on Redis Cluster as well.
 */
export class DistributedLock {
  readonly #connection: RedisConnection;
  readonly #names: KeyNamer;
  readonly #cipher: TokenCipher;
  readonly #ttlMs: number;

  constructor(connection: RedisConnection, names: KeyNamer, cipher: TokenCipher, ttlMs: number) {
    this.#connection = connection;
    this.#names = names;
    this.#cipher = cipher;
    this.#ttlMs = ttlMs;
  }

  /** Takes the lock of `name`, or says who has it: another replica, or a failure record. */
  async tryAcquire(name: string): Promise<LockAttempt> {
    const owner = randomUUID();
    const key = this.#names.name('lock', name);
    const answer = textReply(
      await this.#connection.run('taking the token lock', () =>
        this.#connection.client.eval(ACQUIRE, {
          keys: [key],
          arguments: [owner, String(this.#ttlMs), String(MAX_LOCK_VALUE_LENGTH)],
        }),
      ),
    );
    if (answer === UNAVAILABLE) return { state: 'unavailable' };
    // Our own (fresh, random) owner id: a resend of this very script after its reply was lost.
    if (answer === 1 || answer === owner) return { state: 'acquired', owner };
    // Checked here too: the cap must hold whatever answered the script.
    if (
      typeof answer === 'string' &&
      answer.length <= MAX_LOCK_VALUE_LENGTH &&
      answer.startsWith(FAILED)
    ) {
      const slice = answer.slice(FAILED.length);
      const error = openFailure(slice, this.#cipher, key, Date.now(), this.#ttlMs);
      if (error === 'expired') return this.#takeOver(key, answer, owner);
      // A record that does not open (other keys, tampered) is a lock like any other: it expires.
      if (error !== undefined) return { state: 'failed', error };
    }
    return { state: 'held' };
  }

  /** Takes the lock over a failure record past its time, unless it changed since we read it. */
  async #takeOver(key: string, stale: string, owner: string): Promise<LockAttempt> {
    const answer = await this.#connection.run('taking over an expired token lock', () =>
      this.#connection.client.eval(REPLACE, {
        keys: [key],
        arguments: [stale, owner, String(this.#ttlMs)],
      }),
    );
    if (answer === UNAVAILABLE) return { state: 'unavailable' };
    // Replaced meanwhile (another replica took it over, or a fresh record): look again later.
    return answer === 1 ? { state: 'acquired', owner } : { state: 'held' };
  }

  /** Pushes the expiry of our lock one TTL ahead; `lost` when it is no longer ours. */
  async extend(name: string, owner: string): Promise<'extended' | 'lost' | 'unavailable'> {
    const key = this.#names.name('lock', name);
    const answer = await this.#connection.run('extending the token lock', () =>
      this.#connection.client.eval(EXTEND, {
        keys: [key],
        arguments: [owner, String(this.#ttlMs)],
      }),
    );
    if (answer === UNAVAILABLE) return 'unavailable';
    return answer === 1 ? 'extended' : 'lost';
  }

  /** Frees our lock; a release that fails leaves it to expire. */
  async release(name: string, owner: string): Promise<void> {
    const key = this.#names.name('lock', name);
    await this.#connection.run('releasing the token lock', () =>
      this.#connection.client.eval(RELEASE, { keys: [key], arguments: [owner] }),
    );
  }

  /**
   * Frees our lock by replacing it with `error`, sealed, for `ttlMs`: the waiters throw it
   * instead of fetching in turn. False when it could not be written (the caller then releases).
   */
  async fail(
    name: string,
    owner: string,
    error: TokenRequestRejectedError | TokenEndpointError,
    ttlMs: number,
  ): Promise<boolean> {
    const key = this.#names.name('lock', name);
    const ttl = Math.max(1, Math.round(ttlMs));
    // The same TTL in the record and in Redis: the record ends with its key, copied or not.
    const record = FAILED + sealFailure(error, this.#cipher, key, ttl);
    const answer = await this.#connection.run('publishing a failed token request', () =>
      this.#connection.client.eval(REPLACE, {
        keys: [key],
        arguments: [owner, record, String(ttl)],
      }),
    );
    return answer === 1;
  }
}

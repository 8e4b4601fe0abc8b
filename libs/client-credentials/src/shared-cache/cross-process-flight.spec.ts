import { randomBytes } from 'node:crypto';
import { TokenEndpointError, TokenRequestRejectedError } from '../errors/client-credentials.errors';
import { CrossProcessFlight } from './cross-process-flight';
import { RefreshHeld } from './refresh-held';
import { DistributedLock } from './distributed-lock';
import { KeyNamer } from './key-names';
import type { RedisCommands } from '../shared-cache.options';
import { UNAVAILABLE, type RedisConnection } from './redis-connection';
import { newSharedCacheStats, type SharedCacheStats } from './shared-cache-stats';
import { TokenCipher } from './token-cipher';

const TTL = 3000;
const POLL = 100;
/** The longest a waiter goes between two looks (its lookups slow down to 4 × POLL). */
const SLOWEST = 4 * POLL;

/**
 * One Redis in memory, on the fake clock: GET, SET NX PX, DEL, and EVAL of the lock's four
 * scripts (told apart by what they call), with their semantics. Any other script fails the test.
 */
class FakeRedis implements RedisCommands {
  readonly data = new Map<string, { value: string; expiresAt?: number }>();
  /** The scripts run, in order: acquire, release, extend, replace. */
  readonly ran: string[] = [];
  down = false;

  /** The live entry of `key` (an expired one is gone). */
  entry(key: string): { value: string; expiresAt?: number } | undefined {
    const e = this.data.get(key);
    if (e?.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.data.delete(key);
      return undefined;
    }
    return e;
  }

  pttl(key: string): number {
    const e = this.entry(key);
    return e === undefined ? -2 : e.expiresAt === undefined ? -1 : e.expiresAt - Date.now();
  }

  async get(key: string): Promise<string | null> {
    return this.entry(key)?.value ?? null;
  }

  async set(key: string, value: string, o: { NX?: true; PX: number }): Promise<string | null> {
    if (o.NX && this.entry(key) !== undefined) return null;
    this.data.set(key, { value, expiresAt: Date.now() + o.PX });
    return 'OK';
  }

  async del(key: string): Promise<number> {
    return this.entry(key) !== undefined && this.data.delete(key) ? 1 : 0;
  }

  async eval(script: string, o: { keys: string[]; arguments: string[] }): Promise<unknown> {
    const [key] = o.keys;
    const args = o.arguments;
    const value = this.entry(key)?.value;
    if (script.includes("'NX'")) {
      this.ran.push('acquire');
      // SET NX PX, else take over a value without expiry, else answer the value.
      if (value === undefined || this.pttl(key) === -1) {
        await this.set(key, args[0], { PX: Number(args[1]) });
        return 1;
      }
      return value;
    }
    if (script.includes("'del'")) {
      this.ran.push('release');
      return value === args[0] ? this.del(key) : 0;
    }
    if (script.includes("'pexpire'")) {
      this.ran.push('extend');
      if (value !== args[0]) return 0;
      this.data.get(key)!.expiresAt = Date.now() + Number(args[1]);
      return 1;
    }
    if (script.includes('ARGV[3]')) {
      this.ran.push('replace');
      if (value !== args[0]) return 0;
      await this.set(key, args[1], { PX: Number(args[2]) });
      return 1;
    }
    throw new Error(`The fake Redis does not know this script: ${script}`);
  }
}

/** The connection's contract: `run` answers UNAVAILABLE instead of throwing, and while down. */
function connectionTo(redis: FakeRedis): RedisConnection {
  return {
    client: redis,
    run: async <T>(_what: string, op: () => Promise<T>) => {
      if (redis.down) return UNAVAILABLE;
      try {
        return await op();
      } catch {
        return UNAVAILABLE;
      }
    },
  } as unknown as RedisConnection;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What a promise came to, readable at any time: no rejection is ever left unhandled. */
interface Outcome<T> {
  settled: boolean;
  value?: T;
  error?: Error;
}

function track<T>(promise: Promise<T>): Outcome<T> {
  const outcome: Outcome<T> = { settled: false };
  promise.then(
    (value) => Object.assign(outcome, { settled: true, value }),
    (error: Error) => Object.assign(outcome, { settled: true, error }),
  );
  return outcome;
}

/** Lets every pending promise callback run (setImmediate is not faked). */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

const NAME = 'token-a';

describe('CrossProcessFlight (over DistributedLock and an in-memory Redis)', () => {
  const keys = [{ id: 'k1', key: randomBytes(32) }];
  const cipher = new TokenCipher(keys);
  const names = new KeyNamer('p:', keys);
  const lockKey = names.name('lock', NAME);
  let redis: FakeRedis;
  /** The shared token store the replicas poll (the encrypted entries, in the real thing). */
  let store: Map<string, string>;
  let start: number;

  /** A replica: its own lock client and flight over the one Redis, and a fetch the test answers. */
  function replica(name: string, waitMs = 10_000) {
    const stats: SharedCacheStats = newSharedCacheStats();
    const lock = new DistributedLock(connectionTo(redis), names, cipher, TTL);
    const flight = new CrossProcessFlight(lock, { waitMs, pollMs: POLL, ttlMs: TTL }, stats);
    const r = {
      stats,
      fetches: [] as number[],
      answer: deferred<string>(),
      /** Fetches the token, writing it to the store as the acquirer does, once `answer` says. */
      fetch: async (): Promise<string> => {
        r.fetches.push(Date.now() - start);
        const token = await r.answer.promise;
        store.set(NAME, token);
        return token;
      },
      run: (signal = new AbortController().signal, until?: number, holdUntil?: number) =>
        track(flight.run(NAME, async () => store.get(NAME), r.fetch, signal, until, holdUntil)),
      name,
    };
    return r;
  }

  const extensions = () => redis.ran.filter((s) => s === 'extend').length;

  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    start = Date.now();
    redis = new FakeRedis();
    store = new Map();
  });

  afterEach(() => jest.useRealTimers());

  it('a holder returns its token without waiting for its store write; its lock is released after the write, and a waiter adopts the token', async () => {
    const stats = newSharedCacheStats();
    const lock = new DistributedLock(connectionTo(redis), names, cipher, TTL);
    const flight = new CrossProcessFlight(
      lock,
      { waitMs: 10_000, pollMs: POLL, ttlMs: TTL },
      stats,
    );
    const write = deferred<void>();
    // The token is in memory at once; its store write (Redis slow, or hanging) comes later.
    const holder = track(
      flight.run(
        NAME,
        async () => store.get(NAME),
        async () => 't1',
        new AbortController().signal,
        undefined,
        undefined,
        () => write.promise.then(() => void store.set(NAME, 't1')),
      ),
    );
    await flush();
    expect(holder).toMatchObject({ settled: true, value: 't1' });
    expect(redis.ran).toEqual(['acquire']);

    const b = replica('b');
    const waiter = b.run();
    await jest.advanceTimersByTimeAsync(POLL);
    expect(waiter.settled).toBe(false);
    write.resolve();
    await flush();
    expect(redis.ran).toContain('release');
    await jest.advanceTimersByTimeAsync(SLOWEST);

    expect(waiter).toMatchObject({ settled: true, value: 't1' });
    expect(b.fetches).toEqual([]);
  });

  it('has one replica fetch while the others wait and adopt its token', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => replica(n));
    const holder = a.run();
    await flush();
    const waiters = [b.run(), c.run()];
    await jest.advanceTimersByTimeAsync(1000);
    expect(a.fetches).toEqual([0]);
    expect(waiters.some((w) => w.settled)).toBe(false);

    a.answer.resolve('T');
    await jest.advanceTimersByTimeAsync(SLOWEST);

    expect([holder, ...waiters].map((o) => o.value)).toEqual(['T', 'T', 'T']);
    expect(b.fetches).toEqual([]);
    expect(c.fetches).toEqual([]);
    expect(a.stats).toMatchObject({ lockAcquired: 1, lockWaits: 0 });
    expect(b.stats).toMatchObject({ lockAcquired: 0, lockWaits: 1, lockWaitHits: 1 });
    // Released: the next miss takes the lock at once.
    expect(redis.entry(lockKey)).toBeUndefined();
  });

  it('extends the holder’s lock every third of the TTL while its fetch runs, and stops after', async () => {
    const [a, b] = [replica('a', 60_000), replica('b', 60_000)];
    const holder = a.run();
    await flush();
    const waiter = b.run();

    await jest.advanceTimersByTimeAsync(TTL / 3 - 1);
    expect(extensions()).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(extensions()).toBe(1);
    // Far past the TTL: still held, the waiter still waits.
    for (let t = TTL / 3; t < 10_500; t += 100) {
      await jest.advanceTimersByTimeAsync(100);
      expect(redis.pttl(lockKey)).toBeGreaterThan(TTL / 2);
    }
    expect(extensions()).toBe(10);
    expect(a.stats.lockExtensions).toBe(10);
    expect(b.fetches).toEqual([]);
    expect(waiter.settled).toBe(false);

    a.answer.resolve('SLOW');
    await jest.advanceTimersByTimeAsync(10_000);

    expect(extensions()).toBe(10);
    expect([holder.value, waiter.value]).toEqual(['SLOW', 'SLOW']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('looks less and less often while a holder takes long: 10 s of waiting, 26 looks rather than 100', async () => {
    const a = replica('a', 60_000);
    a.run();
    await flush();
    const waiter = replica('b', 60_000).run();
    const acquires = () => redis.ran.filter((r) => r === 'acquire').length;
    const before = acquires();

    await jest.advanceTimersByTimeAsync(10_000);

    // POLL, then ×1.5 each time up to 4 × POLL: at 100, 250, 475, 812, 1212, 1612… ms.
    expect(acquires() - before).toBe(26);
    a.answer.resolve('LATE');
    await jest.advanceTimersByTimeAsync(SLOWEST);
    expect(waiter.value).toBe('LATE');
  });

  it('stops extending a lock it lost (expired and taken by another replica)', async () => {
    const a = replica('a');
    a.run();
    await jest.advanceTimersByTimeAsync(1500);
    expect(extensions()).toBe(1);
    redis.data.set(lockKey, { value: 'another-owner', expiresAt: Date.now() + 60_000 });

    await jest.advanceTimersByTimeAsync(10_000);

    expect(extensions()).toBe(2);
    expect(a.stats.lockExtensions).toBe(1);
    expect(redis.entry(lockKey)?.value).toBe('another-owner');
  });

  it('has a waiter take the lock over when it disappears without a token (its holder died)', async () => {
    // A holder that died: nobody extends its lock, it expires after its TTL.
    redis.data.set(lockKey, { value: 'dead-holder', expiresAt: Date.now() + TTL });
    const b = replica('b');

    const waiter = b.run();
    await jest.advanceTimersByTimeAsync(TTL - 1);
    expect(b.fetches).toEqual([]);
    await jest.advanceTimersByTimeAsync(SLOWEST);
    expect(b.fetches).toHaveLength(1);
    expect(b.fetches[0]).toBeGreaterThanOrEqual(TTL);
    expect(b.fetches[0]).toBeLessThanOrEqual(TTL + SLOWEST);
    b.answer.resolve('MINE');
    await flush();

    expect(waiter.value).toBe('MINE');
    expect(b.stats).toMatchObject({ lockWaits: 1, lockAcquired: 1, lockWaitHits: 0 });
  });

  it('hands a holder’s failure to its waiters, who throw it without a request of their own', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => replica(n));
    const holder = a.run();
    await flush();
    const waiters = [b.run(), c.run()];
    await jest.advanceTimersByTimeAsync(500);
    const outage = new TokenEndpointError(
      'endpoint_unavailable',
      'HTTP 503.',
      { status: 503, retryAfterMs: 2000 },
      true,
    );

    a.answer.reject(outage);
    await jest.advanceTimersByTimeAsync(SLOWEST);

    expect(holder.error).toBe(outage);
    for (const w of waiters) {
      expect(w.error).toBeInstanceOf(TokenEndpointError);
      expect(w.error).toMatchObject({ code: 'endpoint_unavailable' });
      // What is left of the holder's Retry-After when the waiter read the record (within a poll).
      expect((w.error as TokenEndpointError).retryAfterMs).toBeGreaterThanOrEqual(2000 - SLOWEST);
      expect((w.error as TokenEndpointError).retryAfterMs).toBeLessThanOrEqual(2000);
    }
    expect([b.fetches, c.fetches]).toEqual([[], []]);
    expect(b.stats.lockWaitFailures).toBe(1);
    // Published for its Retry-After (at least 1 s, at most a lock's TTL)…
    expect(redis.pttl(lockKey)).toBe(2000 - SLOWEST);
    const during = replica('d').run();
    await flush();
    expect(during.error).toMatchObject({ code: 'endpoint_unavailable' });

    // … then the lock is free again.
    await jest.advanceTimersByTimeAsync(2000);
    const e = replica('e');
    const after = e.run();
    await flush();
    expect(e.fetches).toHaveLength(1);
    e.answer.resolve('BACK');
    await flush();
    expect(after.value).toBe('BACK');
  });

  it('does not hand over a refusal of the holder’s own credential: a waiter asks itself', async () => {
    const [a, b] = [replica('a'), replica('b')];
    const holder = a.run();
    await flush();
    const waiter = b.run();
    const refusal = new TokenRequestRejectedError('credential_rejected', 'AADSTS7000215.', {
      aadsts: 7000215,
    });

    a.answer.reject(refusal);
    await jest.advanceTimersByTimeAsync(SLOWEST);

    expect(holder.error).toBe(refusal);
    expect(b.fetches).toHaveLength(1);
    b.answer.resolve('ROTATED');
    await flush();
    expect(waiter.value).toBe('ROTATED');
  });

  it('has a waiter fetch itself after waitMs, or at its own deadline', async () => {
    const a = replica('a');
    a.run();
    await flush();
    const b = replica('b', 2000);
    const c = replica('c', 2000);
    b.run();
    c.run(undefined, Date.now() + 500);

    await jest.advanceTimersByTimeAsync(3000);

    expect(c.fetches).toEqual([500]);
    expect(b.fetches).toEqual([2000]);
    expect(b.stats.lockWaitTimeouts).toBe(1);
  });

  it('adopts a token written just before it took the lock, without fetching', async () => {
    store.set(NAME, 'ALREADY');
    const a = replica('a');

    const outcome = a.run();
    await flush();

    expect(outcome.value).toBe('ALREADY');
    expect(a.fetches).toEqual([]);
    expect(a.stats.lockAcquired).toBe(0);
    expect(redis.entry(lockKey)).toBeUndefined();
  });

  it('lets everyone fetch when Redis cannot be used', async () => {
    redis.down = true;
    const [a, b] = [replica('a'), replica('b')];

    a.run();
    b.run();
    await flush();

    expect([a.fetches, b.fetches]).toEqual([[0], [0]]);
  });

  it('has a refresh that can wait hold off while Redis cannot be used, then one replica fetch for all once it is back', async () => {
    redis.down = true;
    const [a, b, c] = ['a', 'b', 'c'].map((n) => replica(n));
    const holdUntil = Date.now() + 10_000;

    const held = [a, b, c].map((r) => r.run(undefined, undefined, holdUntil));
    await flush();

    // Nobody asked the authority: each is told to wait for Redis.
    expect(held.every((h) => h.error instanceof RefreshHeld)).toBe(true);
    expect([a, b, c].map((r) => [r.fetches, r.stats.refreshesHeld])).toEqual([
      [[], 1],
      [[], 1],
      [[], 1],
    ]);

    // Redis is back: tried again, the three meet at the lock and one fetches.
    redis.down = false;
    const again = [a, b, c].map((r) => r.run(undefined, undefined, holdUntil));
    await flush();
    a.answer.resolve('token-after');
    await jest.advanceTimersByTimeAsync(POLL);
    expect(again.map((o) => o.value)).toEqual(['token-after', 'token-after', 'token-after']);
    expect([a, b, c].flatMap((r) => r.fetches)).toHaveLength(1);
  });

  it('has a refresh fetch itself when Redis is still away past the time it could wait', async () => {
    redis.down = true;
    const a = replica('a');
    a.run(undefined, undefined, Date.now() - 1);
    await flush();
    expect(a.fetches).toEqual([0]);
    expect(a.stats.refreshesHeld).toBe(0);
  });

  it('stops a waiter on its signal', async () => {
    const a = replica('a');
    a.run();
    await flush();
    const controller = new AbortController();
    const waiter = replica('b').run(controller.signal);
    await jest.advanceTimersByTimeAsync(250);

    controller.abort(new Error('shutting down'));
    await flush();

    expect(waiter.error?.message).toBe('shutting down');
  });
});

import { randomBytes } from 'node:crypto';
import { TokenEndpointError, TokenRequestRejectedError } from '../errors/client-credentials.errors';
import { DistributedLock } from './distributed-lock';
import { KeyNamer } from './key-names';
import { sealFailure } from './lock-failure';
import { UNAVAILABLE, type RedisConnection } from './redis-connection';
import { TokenCipher } from './token-cipher';
import type { RedisCommands } from '../shared-cache.options';

const TTL = 3000;

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
      if (value === args[1]) return 1;
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

/**
 * A connection as `runBounded` behaves on a cluster, whose first script runs but whose reply is
 * lost (a failover, a dropped connection): the command is sent once more.
 */
function resendingAfterLostReply(redis: FakeRedis): RedisConnection {
  let lost = 0;
  const client = {
    eval: async (script: string, o: { keys: string[]; arguments: string[] }) => {
      const answer = await redis.eval(script, o);
      if (lost++ === 0) throw new Error('Socket closed unexpectedly');
      return answer;
    },
  };
  return {
    client,
    run: async <T>(_what: string, op: () => Promise<T>) => {
      try {
        return await op();
      } catch {
        return await op();
      }
    },
  } as unknown as RedisConnection;
}

describe('DistributedLock', () => {
  const keys = [{ id: 'k1', key: randomBytes(32) }];
  const cipher = new TokenCipher(keys);
  const names = new KeyNamer('p:', keys);
  const key = names.name('lock', 'token-a');
  let redis: FakeRedis;
  let lock: DistributedLock;
  let other: DistributedLock;

  const outage = () =>
    new TokenEndpointError(
      'endpoint_unavailable',
      'HTTP 503.',
      { status: 503, credential: 'api' },
      true,
    );

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    redis = new FakeRedis();
    lock = new DistributedLock(connectionTo(redis), names, cipher, TTL);
    other = new DistributedLock(connectionTo(redis), names, cipher, TTL);
  });

  afterEach(() => jest.useRealTimers());

  it('takes a free lock for a TTL under the token’s Redis name; the others find it held', async () => {
    const taken = await lock.tryAcquire('token-a');

    expect(taken.state).toBe('acquired');
    const owner = (taken as { owner: string }).owner;
    expect(redis.entry(key)?.value).toBe(owner);
    expect(redis.pttl(key)).toBe(TTL);
    expect(await other.tryAcquire('token-a')).toEqual({ state: 'held' });
    // Another token's lock is another name.
    expect((await other.tryAcquire('token-b')).state).toBe('acquired');
  });

  it('frees itself after the TTL, unless extended by its owner, one TTL ahead', async () => {
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };

    jest.advanceTimersByTime(2000);
    expect(await lock.extend('token-a', owner)).toBe('extended');
    expect(redis.pttl(key)).toBe(TTL);
    jest.advanceTimersByTime(TTL - 1);
    expect((await other.tryAcquire('token-a')).state).toBe('held');
    jest.advanceTimersByTime(1);
    expect((await other.tryAcquire('token-a')).state).toBe('acquired');
  });

  it('is released by its owner only', async () => {
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };

    await other.release('token-a', 'someone-else');
    expect(redis.entry(key)?.value).toBe(owner);

    await lock.release('token-a', owner);
    expect(redis.entry(key)).toBeUndefined();
    expect((await other.tryAcquire('token-a')).state).toBe('acquired');
  });

  it('never extends, releases or overwrites a lock that expired and was taken by another', async () => {
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };
    jest.advanceTimersByTime(TTL);
    const taken = (await other.tryAcquire('token-a')) as { owner: string };
    expect(taken.owner).not.toBe(owner);

    expect(await lock.extend('token-a', owner)).toBe('lost');
    await lock.release('token-a', owner);
    expect(await lock.fail('token-a', owner, outage(), 1000)).toBe(false);

    expect(redis.entry(key)?.value).toBe(taken.owner);
    expect(redis.pttl(key)).toBe(TTL);
  });

  it('publishes its holder’s failure in place of the lock: the others get it, until its time is over', async () => {
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };

    expect(await lock.fail('token-a', owner, outage(), 1000)).toBe(true);
    expect(redis.pttl(key)).toBe(1000);

    const attempt = await other.tryAcquire('token-a');
    expect(attempt.state).toBe('failed');
    const error = (attempt as { error: TokenEndpointError }).error;
    expect(error).toBeInstanceOf(TokenEndpointError);
    expect(error).toMatchObject({
      code: 'endpoint_unavailable',
      status: 503,
      credential: 'api',
      transient: true,
    });
    expect(error.message).toContain('HTTP 503.');
    expect(error.message).toContain("Another replica's request");

    jest.advanceTimersByTime(999);
    expect((await other.tryAcquire('token-a')).state).toBe('failed');
    jest.advanceTimersByTime(1);
    expect((await other.tryAcquire('token-a')).state).toBe('acquired');
  });

  it('reads the answers of a client that maps strings to Buffers: a held lock, a failure record', async () => {
    const buffers = {
      eval: async (script: string, o: { keys: string[]; arguments: string[] }) => {
        const answer = await redis.eval(script, o);
        return typeof answer === 'string' ? Buffer.from(answer) : answer;
      },
    } as unknown as FakeRedis;
    const mapped = new DistributedLock(connectionTo(buffers), names, cipher, TTL);
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };

    expect(await mapped.tryAcquire('token-a')).toEqual({ state: 'held' });
    await lock.fail('token-a', owner, outage(), 1000);
    const attempt = await mapped.tryAcquire('token-a');

    expect(attempt.state).toBe('failed');
    expect((attempt as { error: TokenEndpointError }).error.code).toBe('endpoint_unavailable');
  });

  it('rebuilds a refusal as a refusal', async () => {
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };
    const refusal = new TokenRequestRejectedError('request_rejected', 'AADSTS500011.', {
      aadsts: 500011,
    });
    await lock.fail('token-a', owner, refusal, 1000);

    const attempt = (await other.tryAcquire('token-a')) as { error: TokenRequestRejectedError };

    expect(attempt.error).toBeInstanceOf(TokenRequestRejectedError);
    expect(attempt.error).toMatchObject({ code: 'request_rejected', aadsts: 500011 });
    expect(attempt.error.transient).toBe(false);
  });

  it('takes over a lock value with no expiry (left by no holder)', async () => {
    redis.data.set(key, { value: 'replayed' });

    const attempt = await lock.tryAcquire('token-a');

    expect(attempt.state).toBe('acquired');
    expect(redis.pttl(key)).toBe(TTL);
  });

  it('takes over a failure record past its sealed time, whatever Redis kept, by compare-and-set', async () => {
    const stale = `failed:${sealFailure(outage(), cipher, key, 1000, Date.now() - 5000)}`;
    redis.data.set(key, { value: stale, expiresAt: Date.now() + 60_000 });

    const attempt = await lock.tryAcquire('token-a');

    expect(attempt.state).toBe('acquired');
    expect(redis.ran).toEqual(['acquire', 'replace']);
    expect(redis.entry(key)?.value).toBe((attempt as { owner: string }).owner);
    expect(redis.pttl(key)).toBe(TTL);
  });

  it('finds the lock held when a stale record changed between its read and the take-over', async () => {
    const stale = `failed:${sealFailure(outage(), cipher, key, 1000, Date.now() - 5000)}`;
    redis.data.set(key, { value: stale, expiresAt: Date.now() + 60_000 });
    // Another replica takes it over between our two commands.
    const evalOf = redis.eval.bind(redis);
    jest.spyOn(redis, 'eval').mockImplementation(async (script, o) => {
      if (script.includes('ARGV[3]')) {
        redis.data.set(key, { value: 'another', expiresAt: Date.now() + TTL });
      }
      return evalOf(script, o);
    });

    expect(await lock.tryAcquire('token-a')).toEqual({ state: 'held' });
    expect(redis.entry(key)?.value).toBe('another');
  });

  it('treats a record that does not open as a held lock, until Redis expires it', async () => {
    redis.data.set(key, { value: 'failed:not-sealed', expiresAt: Date.now() + 2000 });

    expect(await lock.tryAcquire('token-a')).toEqual({ state: 'held' });
    jest.advanceTimersByTime(2000);
    expect((await lock.tryAcquire('token-a')).state).toBe('acquired');
  });

  it('a script resent after its reply was lost, that finds its own value, has done its work: the lock is ours, the record written', async () => {
    const resent = new DistributedLock(resendingAfterLostReply(redis), names, cipher, TTL);

    const taken = await resent.tryAcquire('token-a');

    expect(taken.state).toBe('acquired');
    expect(redis.entry(key)?.value).toBe((taken as { owner: string }).owner);
    expect(redis.ran).toEqual(['acquire', 'acquire']);

    const failing = new DistributedLock(resendingAfterLostReply(redis), names, cipher, TTL);
    const owner = (taken as { owner: string }).owner;
    expect(await failing.fail('token-a', owner, outage(), 1000)).toBe(true);
    expect(await other.tryAcquire('token-a')).toMatchObject({ state: 'failed' });
  });

  it('says so when Redis cannot be used', async () => {
    const { owner } = (await lock.tryAcquire('token-a')) as { owner: string };
    redis.down = true;

    expect(await other.tryAcquire('token-a')).toEqual({ state: 'unavailable' });
    expect(await lock.extend('token-a', owner)).toBe('unavailable');
    expect(await lock.fail('token-a', owner, outage(), 1000)).toBe(false);
    await expect(lock.release('token-a', owner)).resolves.toBeUndefined();
  });
});

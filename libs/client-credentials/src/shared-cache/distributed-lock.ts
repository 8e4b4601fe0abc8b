import { randomUUID } from 'node:crypto';
import { RedisConnection, UNAVAILABLE } from './redis-connection';
import { redisKeyOf } from './encrypted-store';

// Deletes the lock only if it is still ours: a holder whose lock expired and was taken by another
// replica must not release that replica's lock.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Outcome of {@link DistributedLock.tryAcquire}. */
export type LockAttempt =
  | { readonly state: 'acquired'; readonly owner: string }
  | { readonly state: 'held' }
  | { readonly state: 'unavailable' };

/**
 * A single-instance Redis lock: `SET key owner NX PX ttl`, released by compare-and-delete.
 * Written by hand rather than taken from `redlock`: its stable line (4.x) targets ioredis and
 * has not been released since 2022 (5.x is still a beta), while we hold a node-redis client; and
 * the lock only saves token requests — if it is lost (expiry, failover), two replicas fetch the
 * same token, which is harmless. So the multi-master Redlock algorithm is not needed.
 */
export class DistributedLock {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async tryAcquire(name: string): Promise<LockAttempt> {
    const owner = randomUUID();
    const key = redisKeyOf(this.prefix, 'lock', name);
    const answer = await this.connection.run('taking the token lock', () =>
      this.connection.client.set(key, owner, { NX: true, PX: this.ttlMs }),
    );
    if (answer === UNAVAILABLE) return { state: 'unavailable' };
    return answer === 'OK' ? { state: 'acquired', owner } : { state: 'held' };
  }

  async release(name: string, owner: string): Promise<void> {
    const key = redisKeyOf(this.prefix, 'lock', name);
    // A release that fails leaves the lock to expire.
    await this.connection.run('releasing the token lock', () =>
      this.connection.client.eval(RELEASE, { keys: [key], arguments: [owner] }),
    );
  }
}

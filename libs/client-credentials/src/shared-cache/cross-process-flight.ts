import { now } from '../timing/clock';
import { sleep } from '../timing/backoff';
import type { DistributedLock } from './distributed-lock';
import { isShareable } from './lock-failure';
import { RefreshHeld } from './refresh-held';
import type { SharedCacheStats } from './shared-cache-stats';

/** Settings of {@link CrossProcessFlight}. */
export interface CrossProcessFlightOptions {
  /** Longest a waiter waits for a holder that is alive (its lock keeps being extended). */
  readonly waitMs: number;
  /** How often a waiter looks for the holder's token, failure or death. */
  readonly pollMs: number;
  /** Lock expiry; the holder extends it every third of it. */
  readonly ttlMs: number;
}

/** A waiter's lookups slow down to at most this many `pollMs` apart. */
const MAX_POLL_FACTOR = 4;

// A failure record must live long enough for every waiter to read it (they look every pollMs);
// longer when the authority asked for a pause (Retry-After), never longer than a lock would
// (readers refuse a record that claims more: see openFailure).
const MIN_FAILURE_TTL_MS = 1000;

/**
 * Single flight across replicas: of the replicas missing the same token at once, the one that
 * takes the Redis lock fetches it, extending the lock for as long as its fetch runs (a slow
 * authority does not free it; a holder that dies stops extending, and its lock expires).
 * The others poll the shared cache and end their wait on the first of:
 * - the holder's token in the store: they adopt it;
 * - the holder's failure, published in place of its lock: they throw it, without a request
 *   (only within the failure's sealed lifetime: a copy replayed later is a free lock);
 * - the lock gone without either (the holder died), or left with no expiry: one of them takes
 *   the lock and fetches;
 * - `waitMs` passed: they fetch themselves.
 * When Redis cannot be used, everyone fetches directly.
 */
export class CrossProcessFlight {
  readonly #lock: DistributedLock;
  readonly #options: CrossProcessFlightOptions;
  readonly #stats: SharedCacheStats;

  constructor(lock: DistributedLock, options: CrossProcessFlightOptions, stats: SharedCacheStats) {
    this.#lock = lock;
    this.#options = options;
    this.#stats = stats;
  }

  /**
   * `fetch` under the lock named `name`, or the value `poll` finds once another replica wrote it.
   * `poll` answers undefined until then. Throws the holder's failure (a `TokenRequestRejectedError`
   * or `TokenEndpointError`) when the replica that held the lock got one. A waiter fetches itself
   * at `until` at the latest: a background refresh must not wait for another replica past the end
   * of the token it refreshes, nor a caller past its own deadline. When Redis cannot be used, the
   * caller fetches — unless it is before `holdUntil`: it then gets {@link RefreshHeld}, and asks
   * again later (a background refresh, which can wait for Redis to be back).
   * A holder that got its value returns it at once; its lock is released in the background once
   * `stored(value)` (the value's store write) is over, so that the waiters find it in the store.
   */
  async run<T>(
    name: string,
    poll: () => Promise<T | undefined>,
    fetch: () => Promise<T>,
    signal: AbortSignal,
    until = Infinity,
    holdUntil = -Infinity,
    stored: (value: T) => Promise<unknown> = () => Promise.resolve(),
  ): Promise<T> {
    const { waitMs, pollMs } = this.#options;
    const deadline = Math.min(now() + waitMs, until);
    let delay = pollMs;
    let waited = false;
    for (;;) {
      const attempt = await this.#lock.tryAcquire(name);
      if (attempt.state === 'unavailable') {
        if (now() < holdUntil) {
          this.#stats.refreshesHeld++;
          throw new RefreshHeld(holdUntil);
        }
        return fetch();
      }
      if (attempt.state === 'acquired') {
        return this.#hold(name, attempt.owner, poll, fetch, waited, stored);
      }
      if (!waited) {
        waited = true;
        this.#stats.lockWaits++;
      }
      if (attempt.state === 'failed') {
        this.#stats.lockWaitFailures++;
        throw attempt.error;
      }
      if (now() >= deadline) {
        this.#stats.lockWaitTimeouts++;
        return fetch();
      }
      await sleep(Math.min(delay, deadline - now()), signal);
      // A holder's request usually answers within a few polls; one that takes long (a slow
      // authority, or thousands of cold tokens at once) is looked at less and less often, so that
      // the waiters of a fleet do not load Redis with lookups (up to 4 × pollMs apart).
      delay = Math.min(delay * 1.5, pollMs * MAX_POLL_FACTOR);
      const found = await poll();
      if (found !== undefined) {
        this.#stats.lockWaitHits++;
        return found;
      }
    }
  }

  /**
   * Fetches under our lock, keeping it alive meanwhile; hands a shareable failure to the waiters.
   * A value is returned without waiting for Redis: the lock is kept (alive) until its store write
   * is over, then released in the background.
   */
  async #hold<T>(
    name: string,
    owner: string,
    poll: () => Promise<T | undefined>,
    fetch: () => Promise<T>,
    waited: boolean,
    stored: (value: T) => Promise<unknown>,
  ): Promise<T> {
    const stop = this.#keepAlive(name, owner);
    const release = (after: Promise<unknown>) => {
      void after.then(() => {
        stop();
        return this.#lock.release(name, owner);
      });
    };
    let value: T | undefined;
    try {
      // The previous holder may have written its token between our last look and our lock.
      value = await poll();
      if (value !== undefined) {
        if (waited) this.#stats.lockWaitHits++;
        release(Promise.resolve());
        return value;
      }
      this.#stats.lockAcquired++;
      value = await fetch();
    } catch (failure) {
      stop();
      const published =
        isShareable(failure) &&
        (await this.#lock.fail(
          name,
          owner,
          failure,
          Math.min(Math.max(failure.retryAfterMs ?? 0, MIN_FAILURE_TTL_MS), this.#options.ttlMs),
        ));
      if (!published) await this.#lock.release(name, owner);
      throw failure;
    }
    release(stored(value).catch(() => undefined));
    return value;
  }

  /**
   * Extends our lock every third of its TTL until stopped: two extensions can fail in a row
   * (Redis slow or briefly away) before it expires under a holder that is still working.
   */
  #keepAlive(name: string, owner: string): () => void {
    const every = Math.max(1, Math.floor(this.#options.ttlMs / 3));
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const schedule = () => {
      timer = setTimeout(() => {
        void this.#lock.extend(name, owner).then((outcome) => {
          if (outcome === 'extended') this.#stats.lockExtensions++;
          // Lost: expired and maybe taken by another replica — extending it would steal it.
          if (!stopped && outcome !== 'lost') schedule();
        });
      }, every);
      // A holder's fetch has its own deadline; this timer must not keep the process alive.
      timer.unref();
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }
}

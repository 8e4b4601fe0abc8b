import { sleep } from '../backoff';
import type { DistributedLock } from './distributed-lock';
import type { SharedCacheStats } from './shared-cache-stats';

/** Settings of {@link CrossProcessFlight}. */
export interface CrossProcessFlightOptions {
  readonly waitMs: number;
  readonly pollMs: number;
}

/**
 * Single flight across replicas: of the replicas missing the same token at once, the one that
 * takes the Redis lock fetches it; the others poll the shared cache for its result, and fetch
 * themselves when the lock frees without a result (the holder failed or died) or after `waitMs`.
 * When Redis cannot be used, everyone fetches directly.
 */
export class CrossProcessFlight {
  constructor(
    private readonly lock: DistributedLock,
    private readonly options: CrossProcessFlightOptions,
    private readonly stats: SharedCacheStats,
  ) {}

  /**
   * `fetch` under the lock named `name`, or the value `poll` finds once another replica wrote it.
   * `poll` answers undefined until then.
   */
  async run<T>(
    name: string,
    poll: () => Promise<T | undefined>,
    fetch: () => Promise<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const deadline = Date.now() + this.options.waitMs;
    let waited = false;
    for (;;) {
      const attempt = await this.lock.tryAcquire(name);
      if (attempt.state === 'unavailable') return fetch();
      if (attempt.state === 'acquired') {
        try {
          // The previous holder may have written its token between our last look and our lock.
          const found = await poll();
          if (found !== undefined) return found;
          this.stats.lockAcquired++;
          return await fetch();
        } finally {
          await this.lock.release(name, attempt.owner);
        }
      }
      if (!waited) {
        waited = true;
        this.stats.lockWaits++;
      }
      if (Date.now() + this.options.pollMs > deadline) {
        this.stats.lockWaitTimeouts++;
        return fetch();
      }
      await sleep(this.options.pollMs, signal);
      const found = await poll();
      if (found !== undefined) {
        this.stats.lockWaitHits++;
        return found;
      }
    }
  }
}

import { createClient, type RedisClientType } from '@keyv/redis';
import { ErrorReporter, SharedCacheStats } from './shared-cache-stats';

/** What `run` answers when Redis could not be used. */
export const UNAVAILABLE: unique symbol = Symbol('redis unavailable');

/** A command slower than this is given up. */
class OperationTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'OperationTimeout';
  }
}

/**
 * The Redis connection of the shared cache: every command time-bounded, every failure counted
 * and answered with {@link UNAVAILABLE} instead of thrown, reconnection in the background.
 * While disconnected, commands are not even tried (no offline queue): the caller goes on at once.
 * The client is in a `#private` field: the URL it was made from may hold a password, and the
 * service that owns this connection must not lead a property walk to it.
 */
export class RedisConnection {
  readonly #client: RedisClientType;
  readonly #owned: boolean;
  readonly #operationTimeoutMs: number;
  readonly #stats: SharedCacheStats;
  readonly #reporter: ErrorReporter;
  #lost = false;

  constructor(
    target: { redisUrl?: string; redisClient?: RedisClientType },
    operationTimeoutMs: number,
    stats: SharedCacheStats,
    reporter: ErrorReporter,
  ) {
    this.#operationTimeoutMs = operationTimeoutMs;
    this.#stats = stats;
    this.#reporter = reporter;
    this.#owned = target.redisClient === undefined;
    this.#client =
      target.redisClient ??
      createClient({
        url: target.redisUrl,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: 2000,
          // Never give up: back off to 2 s between attempts, with jitter.
          reconnectStrategy: (retries: number) =>
            Math.min(100 * 2 ** Math.min(retries, 5), 2000) + Math.floor(Math.random() * 100),
        },
      });
    this.#client.on('error', this.#onError);
    this.#client.on('ready', this.#onReady);
  }

  /** The node-redis client, for the commands of the store and the lock. */
  get client(): RedisClientType {
    return this.#client;
  }

  readonly #onError = (e: unknown): void => {
    this.#lost = true;
    this.#stats.connected = this.#client.isReady;
    this.#reporter.report('the Redis connection', e);
  };

  readonly #onReady = (): void => {
    this.#stats.connected = true;
    if (this.#lost) this.#reporter.recovered('Redis connection is back.');
    this.#lost = false;
  };

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.#client.isReady;
  }

  /** Connects (when the client is not open yet), waiting at most `ms`; false when not ready by then. */
  async connect(ms: number): Promise<boolean> {
    if (!this.#client.isOpen) {
      this.#client.connect().catch((e: unknown) => this.#reporter.report('connecting to Redis', e));
    }
    if (this.#client.isReady) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#client.on('ready', done);
    });
    if (!this.#client.isReady) {
      this.#reporter.report('connecting to Redis', new Error(`not ready within ${ms} ms`));
    }
    return this.#client.isReady;
  }

  /** Runs one command, bounded in time; never throws. */
  async run<T>(what: string, op: () => Promise<T>): Promise<T | typeof UNAVAILABLE> {
    this.#stats.connected = this.#client.isReady;
    if (!this.#client.isReady) {
      // Reported by the connection's own error events; counting each skipped call is enough.
      this.#stats.errors++;
      return UNAVAILABLE;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        op(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new OperationTimeout(what, this.#operationTimeoutMs)),
            this.#operationTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      if (e instanceof OperationTimeout) this.#stats.timeouts++;
      this.#reporter.report(what, e);
      return UNAVAILABLE;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes a connection this library opened; an app's own client is left as it is. */
  async close(): Promise<void> {
    this.#client.off('ready', this.#onReady);
    if (!this.#owned) {
      this.#client.off('error', this.#onError);
      return;
    }
    if (!this.#client.isOpen) return;
    try {
      this.#client.destroy();
    } catch {
      // Already closed.
    }
  }
}

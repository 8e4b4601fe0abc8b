import type { ConfigurationError } from '../errors/client-credentials.errors';
import { ClusterTopology } from './cluster-topology';
import { topologyOf, type RedisTopology } from './redis-client-like';
import { reconnectDelay } from './redis-clients';
import { configurationErrorOf, type ConnectionFields } from './redis-errors';
import { ErrorReporter, SharedCacheStats } from './shared-cache-stats';
import type { RedisClientLike, RedisCommands } from '../shared-cache.options';

export type { ConnectionFields } from './redis-errors';

/** What `run` answers when Redis could not be used. */
export const UNAVAILABLE: unique symbol = Symbol('redis unavailable');

/** A command slower than this is given up. */
class OperationTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'OperationTimeout';
  }
}

/** How the connection gets its client: one it makes (and may remake), or the app's own. */
export type ClientSource =
  | { readonly owned: true; readonly create: () => RedisClientLike }
  | { readonly owned: false; readonly client: RedisClientLike };

/**
 * The Redis connection of the shared cache, whatever the topology: every command time-bounded,
 * every failure counted and answered with {@link UNAVAILABLE} instead of thrown, reconnection in
 * the background. While disconnected, commands are not even tried (no offline queue): the caller
 * goes on at once. A login Redis refuses, or a certificate it cannot trust, fails the startup
 * with a {@link ConfigurationError} naming the option; Redis merely down does not.
 * The client is in a `#private` field: the options it was made from may hold a password, and the
 * service that owns this connection must not lead a property walk to it.
 */
export class RedisConnection {
  #client: RedisClientLike;
  readonly #source: ClientSource;
  readonly #topology: RedisTopology;
  readonly #fields: ConnectionFields;
  readonly #operationTimeoutMs: number;
  readonly #stats: SharedCacheStats;
  readonly #reporter: ErrorReporter;
  #lost = false;
  #closed = false;
  #fatal?: ConfigurationError;
  #retryTimer?: NodeJS.Timeout;
  #retries = 0;
  readonly #clusterTopology: ClusterTopology;
  /** A cluster's slot map has been read (its 'connect'), and it was not closed since. */
  #mapped = false;
  readonly #readyWaiters = new Set<() => void>();

  constructor(
    source: ClientSource,
    fields: ConnectionFields,
    operationTimeoutMs: number,
    stats: SharedCacheStats,
    reporter: ErrorReporter,
  ) {
    this.#source = source;
    this.#fields = fields;
    this.#operationTimeoutMs = operationTimeoutMs;
    this.#stats = stats;
    this.#reporter = reporter;
    this.#clusterTopology = new ClusterTopology(reporter);
    this.#client = source.owned ? source.create() : source.client;
    this.#topology = topologyOf(this.#client);
    this.#listen(this.#client);
  }

  /** The commands of the store and the lock, sent to whichever node holds the key. */
  get client(): RedisCommands {
    return this.#client;
  }

  /** Whether commands can be sent now (a cluster: its slot map has been read). */
  get ready(): boolean {
    const c = this.#client;
    // A cluster is "open" from the start of connect(), before it knows a single slot.
    return this.#topology === 'cluster' ? c.isOpen && this.#mapped : c.isReady === true;
  }

  #listen(c: RedisClientLike): void {
    c.on('error', this.#onError);
    c.on('ready', this.#onReady);
    // A cluster reports its nodes apart: a node lost or back, the slot map (re)read.
    c.on('node-error', this.#onNodeError);
    c.on('node-ready', this.#onReady);
    c.on('connect', this.#onMapped);
    c.on('disconnect', this.#onUnmapped);
    c.on('topology-change', this.#onReady);
  }

  #unlisten(c: RedisClientLike): void {
    c.off('error', this.#onError);
    c.off('ready', this.#onReady);
    c.off('node-error', this.#onNodeError);
    c.off('node-ready', this.#onReady);
    c.off('connect', this.#onMapped);
    c.off('disconnect', this.#onUnmapped);
    c.off('topology-change', this.#onReady);
  }

  readonly #onMapped = (): void => {
    this.#mapped = true;
    this.#onReady();
  };

  readonly #onUnmapped = (): void => {
    this.#mapped = false;
  };

  readonly #onError = (e: unknown): void => {
    this.#lost = true;
    this.#stats.connected = this.ready;
    this.#noteFatal(e);
    // A login refused or a certificate not trusted: no need to wait out the startup bound.
    if (this.#fatal !== undefined) for (const wake of this.#readyWaiters) wake();
    this.#reporter.report('the Redis connection', e);
  };

  readonly #onNodeError = (e: unknown): void => {
    this.#onError(e);
    void this.#refreshTopology();
  };

  readonly #onReady = (): void => {
    if (!this.ready) return;
    this.#stats.connected = true;
    this.#retries = 0;
    if (this.#lost) this.#reporter.recovered('Redis connection is back.');
    this.#lost = false;
    for (const wake of this.#readyWaiters) wake();
  };

  /** Remembers the first error no retry can fix; the startup wait then fails with it. */
  #noteFatal(e: unknown): void {
    this.#fatal ??= configurationErrorOf(e, this.#fields);
  }

  /**
   * Connects (when the client is not open yet), waiting at most `ms`; false when not ready by
   * then, and the connection keeps being tried in the background. Throws a
   * {@link ConfigurationError} (after closing the connection) when Redis refused the login or its
   * certificate is not trusted.
   */
  async connect(ms: number): Promise<boolean> {
    if (!this.#client.isOpen) this.#open();
    if (!this.ready && this.#fatal === undefined) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#readyWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        timer.unref();
        this.#readyWaiters.add(done);
      });
    }
    if (this.#fatal !== undefined) {
      await this.close();
      throw this.#fatal;
    }
    this.#stats.connected = this.ready;
    if (!this.ready) {
      this.#reporter.report('connecting to Redis', new Error(`not ready within ${ms} ms`));
    }
    return this.ready;
  }

  /**
   * Starts connecting. A single client retries by itself; a cluster whose root nodes are all down,
   * or a sentinel set that never named a master, rejects once: try again after a backoff (with a
   * fresh client when ours can no longer be reopened).
   */
  #open(): void {
    const client = this.#client;
    client
      .connect()
      .then(() => this.#onReady())
      .catch((e: unknown) => {
        this.#noteFatal(e);
        if (this.#fatal !== undefined) {
          for (const wake of this.#readyWaiters) wake();
          return;
        }
        this.#reporter.report('connecting to Redis', e);
        if (this.#closed || client !== this.#client || this.#topology === 'standalone') return;
        this.#retryTimer = setTimeout(() => this.#reopen(), reconnectDelay(this.#retries++));
        this.#retryTimer.unref();
      });
  }

  #reopen(): void {
    if (this.#closed) return;
    // A sentinel client that failed to connect stays "open" and refuses a second connect().
    if (this.#source.owned && this.#topology === 'sentinel') {
      const old = this.#client;
      this.#unlisten(old);
      void Promise.resolve(destroy(old)).catch(() => undefined);
      this.#client = this.#source.create();
      this.#listen(this.#client);
    }
    if (!this.#client.isOpen) this.#open();
  }

  /**
   * After a failure, has a cluster's slot map re-read ({@link ClusterTopology}); resolves when that
   * re-read is over, at once when there is none to do (not a cluster, closed, one done just now).
   */
  #refreshTopology(): Promise<void> {
    if (this.#topology !== 'cluster' || this.#closed) return Promise.resolve();
    return this.#clusterTopology.refresh(this.#client);
  }

  /**
   * Runs one command, bounded in time; never throws. On a cluster, a command that fails (not one
   * that is slow) is sent once more after the slot map was re-read, within the same bound: the
   * first command after a failover reaches the promoted replica instead of failing.
   */
  async run<T>(what: string, op: () => Promise<T>): Promise<T | typeof UNAVAILABLE> {
    this.#stats.connected = this.ready;
    if (!this.ready) {
      // Reported by the connection's own error events; counting each skipped call is enough.
      this.#stats.errors++;
      return UNAVAILABLE;
    }
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new OperationTimeout(what, this.#operationTimeoutMs)),
        this.#operationTimeoutMs,
      );
    });
    bound.catch(() => undefined);
    const attempt = () => {
      // An op that throws at once (a closed client) is a failure like any other; one given up
      // on may still fail later, and that rejection is nobody's to handle.
      const p = (async () => op())();
      p.catch(() => undefined);
      return Promise.race([p, bound]);
    };
    try {
      try {
        return await attempt();
      } catch (e) {
        if (this.#topology !== 'cluster' || e instanceof OperationTimeout) throw e;
        await Promise.race([this.#refreshTopology(), bound]);
        return await attempt();
      }
    } catch (e) {
      if (e instanceof OperationTimeout) this.#stats.timeouts++;
      this.#reporter.report(what, e);
      void this.#refreshTopology();
      return UNAVAILABLE;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes a connection this library opened; an app's own client is left as it is. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const wake of this.#readyWaiters) wake();
    const client = this.#client;
    if (!this.#source.owned) {
      this.#unlisten(client);
      return;
    }
    client.off('ready', this.#onReady);
    client.off('topology-change', this.#onReady);
    try {
      await destroy(client);
    } catch {
      // Already closed.
    }
  }
}

function destroy(client: RedisClientLike): unknown {
  return client.isOpen ? client.destroy() : undefined;
}

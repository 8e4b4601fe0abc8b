import type { ConfigurationError } from '../errors/client-credentials.errors';
import { ClusterTopology, slotMapReadBoundMs } from './cluster-topology';
import { knowsReadyMaster, topologyOf, type RedisTopology } from './redis-client-like';
import { runBounded, UNAVAILABLE, type CommandContext } from './bounded-command';
import { CommandCircuit } from './command-circuit';
import { clientAtNewMaster } from './master-switch';
import { RecoveryNotice } from './recovery-notice';
import { reconnectDelay } from './redis-clients';
import { configurationErrorOf, type ConnectionFields } from './redis-errors';
import { ErrorReporter, SharedCacheStats } from './shared-cache-stats';
import type { RedisClientLike, RedisCommands } from '../shared-cache.options';

export type { ConnectionFields } from './redis-errors';

export { UNAVAILABLE } from './bounded-command';

/**
 * How the connection gets its client: one it makes (and may remake), or the app's own. `watch`
 * (a sentinel set's) calls back with the new master's `host:port` when the sentinels switch it,
 * and returns what stops watching.
 */
export type ClientSource =
  | {
      readonly owned: true;
      readonly create: () => RedisClientLike;
      readonly watch?: (onSwitch: (address: string) => void) => () => void;
    }
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
  readonly #stats: SharedCacheStats;
  readonly #reporter: ErrorReporter;
  #lost = false;
  #closed = false;
  #fatal?: ConfigurationError;
  #retryTimer?: NodeJS.Timeout;
  #retries = 0;
  readonly #clusterTopology: ClusterTopology;
  readonly #readyWaiters = new Set<() => void>();
  readonly #recovery = new RecoveryNotice();
  /** Holds commands back from a Redis that stopped answering (its socket still open). */
  readonly #circuit = new CommandCircuit();
  /** Stops listening to the sentinels' switch announcements. */
  readonly #unwatch: () => void;
  /** A client for the new master is being opened. */
  #switching = false;
  /** That client, from its creation until it takes our client's place or is dropped. */
  #incoming?: RedisClientLike;
  /** Every event listened to on the client, and its handler. */
  readonly #handlers: readonly (readonly [string, (...args: unknown[]) => void])[];
  /** What a command needs of the connection, read when it runs. */
  readonly #commands: CommandContext;

  constructor(
    source: ClientSource,
    fields: ConnectionFields,
    operationTimeoutMs: number,
    stats: SharedCacheStats,
    reporter: ErrorReporter,
  ) {
    this.#source = source;
    this.#fields = fields;
    this.#stats = stats;
    this.#reporter = reporter;
    this.#clusterTopology = new ClusterTopology(reporter, slotMapReadBoundMs(operationTimeoutMs));
    this.#commands = {
      ready: () => this.ready,
      circuit: this.#circuit,
      cluster: () => this.#topology === 'cluster',
      operationTimeoutMs,
      stats,
      recovery: this.#recovery,
      reporter,
      refreshTopology: () => this.#refreshTopology(),
      fields,
    };
    this.#handlers = [
      ['error', this.#onError],
      ['ready', this.#onReady],
      // A cluster reports its nodes apart: a node lost or back, the slot map (re)read. These
      // only say when to look again: its readiness is read from its state (see `ready`).
      ['node-error', this.#onNodeError],
      ['node-ready', this.#onReady],
      ['connect', this.#onReady],
      ['topology-change', this.#onReady],
    ];
    this.#client = source.owned ? source.create() : source.client;
    this.#topology = topologyOf(this.#client);
    this.#listen(this.#client);
    this.#unwatch = (source.owned && source.watch?.(this.#followSwitch)) || (() => undefined);
  }

  /**
   * The sentinels switched the master to `address`: a fresh client there, once connected, takes
   * the place of ours ({@link clientAtNewMaster}); commands go through ours until then. A switch
   * announced while one is being followed changes nothing. The fresh client is kept in a field
   * while it connects, so that {@link close} ends it too (its connect loop would otherwise go on
   * after shutdown, keeping the process alive while the sentinels cannot be reached); a switch that
   * ends after close is dropped.
   */
  readonly #followSwitch = (address: string): void => {
    const source = this.#source;
    if (this.#closed || this.#switching || !source.owned) return;
    this.#switching = true;
    const create = (): RedisClientLike => (this.#incoming = source.create());
    void clientAtNewMaster(this.#client, address, create)
      .then((fresh) => {
        // Closed meanwhile: close() destroyed it.
        if (fresh === undefined || this.#closed) return;
        this.#stats.masterSwitches++;
        this.#replace(fresh);
        this.#onReady();
      })
      .finally(() => {
        this.#switching = false;
        this.#incoming = undefined;
      });
  };

  /** Makes `fresh` the client, and closes the one it replaces (a client this library made). */
  #replace(fresh: RedisClientLike): void {
    const old = this.#client;
    this.#unlisten(old);
    this.#client = fresh;
    this.#listen(fresh);
    void Promise.resolve(destroy(old)).catch(() => undefined);
    if (this.#closed) void Promise.resolve(destroy(fresh)).catch(() => undefined);
  }

  /** The commands of the store and the lock, sent to whichever node holds the key. */
  get client(): RedisCommands {
    return this.#client;
  }

  /** Whether the connection is to a Redis Cluster (the app's own client included). */
  get isCluster(): boolean {
    return this.#topology === 'cluster';
  }

  /**
   * Whether commands can be sent now. A cluster has no `isReady`: it is ready when open and
   * knowing its masters, one of them with a ready node client — read from its state, not from its
   * `'connect'` event, which an app's client connected before it reached us has already emitted.
   */
  get ready(): boolean {
    const c = this.#client;
    return this.#topology === 'cluster' ? c.isOpen && knowsReadyMaster(c) : c.isReady === true;
  }

  #listen(c: RedisClientLike): void {
    for (const [event, handler] of this.#handlers) c.on(event, handler);
  }

  #unlisten(c: RedisClientLike): void {
    for (const [event, handler] of this.#handlers) c.off(event, handler);
  }

  readonly #onError = (e: unknown): void => {
    this.#lost = true;
    this.#recovery.failed();
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
    // A fresh connection: whatever stopped answering before, commands go to it again.
    this.#circuit.answered();
    this.#stats.connected = true;
    this.#retries = 0;
    if (this.#lost) this.#reporter.recovered('Redis connection is back.');
    this.#lost = false;
    for (const wake of this.#readyWaiters) wake();
    this.#recovery.succeeded();
  };

  /** Calls `listener` each time Redis is usable again after it was not (see {@link RecoveryNotice}). */
  onRecovered(listener: () => void): void {
    this.#recovery.listen(listener);
  }

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
    if (this.#source.owned && this.#topology === 'sentinel') this.#replace(this.#source.create());
    if (!this.#client.isOpen) this.#open();
  }

  /**
   * After a failure, has a cluster's slot map re-read ({@link ClusterTopology}); resolves when that
   * re-read is over, at once when there is none to do (not a cluster, closed, one done just now).
   */
  #refreshTopology(): Promise<void> {
    if (this.#topology !== 'cluster' || this.#closed || !this.#client.isOpen) {
      return Promise.resolve();
    }
    return this.#clusterTopology.refresh(this.#client);
  }

  /**
   * Runs one command (or `commands` pipelined), bounded in time; never throws (see
   * {@link runBounded}).
   */
  run<T>(what: string, op: () => Promise<T>, commands = 1): Promise<T | typeof UNAVAILABLE> {
    return runBounded(this.#commands, what, op, commands);
  }

  /**
   * Closes a connection this library opened, and the client a Sentinel switch is opening (see
   * {@link #followSwitch}); an app's own client is left as it is.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unwatch();
    this.#recovery.close();
    clearTimeout(this.#retryTimer);
    for (const wake of this.#readyWaiters) wake();
    const client = this.#client;
    if (!this.#source.owned) {
      this.#unlisten(client);
      return;
    }
    client.off('ready', this.#onReady);
    client.off('topology-change', this.#onReady);
    const incoming = this.#incoming;
    this.#incoming = undefined;
    // Already closed, either of them: nothing to do.
    const quietly = (c: RedisClientLike) => Promise.resolve(destroy(c)).catch(() => undefined);
    await Promise.all([quietly(client), incoming === undefined ? undefined : quietly(incoming)]);
  }
}

function destroy(client: RedisClientLike): unknown {
  return client.isOpen ? client.destroy() : undefined;
}

import type { RedisClusterType } from '@keyv/redis';
import { ConfigurationError } from '../errors/client-credentials.errors';
import {
  reconnectDelay,
  topologyOf,
  type AnyRedisClient,
  type RedisCommands,
  type RedisTopology,
} from './redis-clients';
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

/** Which option a refused login or an untrusted certificate points at (for startup errors). */
export interface ConnectionFields {
  /** The option holding the login: `password`, `passwordProvider`, `redisUrl` or `redisClient`. */
  readonly login: string;
  /** The option deciding TLS trust: `ca`, or `redisClient` for an app's own client. */
  readonly trust: string;
}

/** How the connection gets its client: one it makes (and may remake), or the app's own. */
export type ClientSource =
  | { readonly owned: true; readonly create: () => AnyRedisClient }
  | { readonly owned: false; readonly client: AnyRedisClient };

// Replies and errors that no retry fixes: the configuration must change. Messages of node-redis
// wrap the server's reply (`Master Client (host:port): WRONGPASS …`), so they are searched.
const LOGIN_REFUSED = /\b(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|invalid username/;
const UNTRUSTED_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// After a failure, at most one re-read of a cluster's slot map per this interval.
const TOPOLOGY_REFRESH_MS = 500;

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
  #client: AnyRedisClient;
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
  #refreshing?: Promise<void>;
  #lastRefresh = 0;
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
    const c = this.#client as { isReady?: boolean; isOpen: boolean };
    // A cluster is "open" from the start of connect(), before it knows a single slot.
    return this.#topology === 'cluster' ? c.isOpen && this.#mapped : c.isReady === true;
  }

  #listen(client: AnyRedisClient): void {
    const c = client as unknown as NodeJS.EventEmitter;
    c.on('error', this.#onError);
    c.on('ready', this.#onReady);
    // A cluster reports its nodes apart: a node lost or back, the slot map (re)read.
    c.on('node-error', this.#onNodeError);
    c.on('node-ready', this.#onReady);
    c.on('connect', this.#onMapped);
    c.on('disconnect', this.#onUnmapped);
    c.on('topology-change', this.#onReady);
  }

  #unlisten(client: AnyRedisClient): void {
    const c = client as unknown as NodeJS.EventEmitter;
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
    if (this.#fatal !== undefined) return;
    const text = messages(e);
    if (LOGIN_REFUSED.test(text)) {
      const reply = /\b(WRONGPASS|NOAUTH|NOPERM)\b/.exec(text)?.[1] ?? 'refused';
      this.#fatal = new ConfigurationError([
        `cache.shared.${this.#fields.login}: Redis refused the login (${reply}) — check the user name and password (or what the provider returns) and the user's ACL; they are not shown here`,
      ]);
    } else if (codes(e).some((c) => UNTRUSTED_CERT.has(c))) {
      this.#fatal = new ConfigurationError([
        `cache.shared.${this.#fields.trust}: the Redis server's TLS certificate is not trusted (${codes(e).find((c) => UNTRUSTED_CERT.has(c))}) — add the CA that issued it (PEM) to \`ca\`, and connect by a name or address the certificate holds`,
      ]);
    }
  }

  /**
   * Connects (when the client is not open yet), waiting at most `ms`; false when not ready by
   * then, and the connection keeps being tried in the background. Throws a
   * {@link ConfigurationError} (after closing the connection) when Redis refused the login or its
   * certificate is not trusted.
   */
  async connect(ms: number): Promise<boolean> {
    const c = this.#client as { isOpen: boolean };
    if (!c.isOpen) this.#open();
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
    (client as { connect(): Promise<unknown> })
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
    if (!(this.#client as { isOpen: boolean }).isOpen) this.#open();
  }

  /**
   * A cluster keeps its slot map until a node answers MOVED; a master that died never does, and
   * node-redis would send its slots' commands to the dead address after its replica took over.
   * So after a failure we ask the client to re-read the map from the nodes (at most once per
   * {@link TOPOLOGY_REFRESH_MS}): the dead node is dropped and the promoted replica used.
   * Resolves when that re-read (or the one under way) is over; at once when there is none to do.
   */
  #refreshTopology(): Promise<void> {
    if (this.#topology !== 'cluster' || this.#closed) return Promise.resolve();
    if (this.#refreshing !== undefined) return this.#refreshing;
    if (Date.now() - this.#lastRefresh < TOPOLOGY_REFRESH_MS) return Promise.resolve();
    const cluster = this.#client as RedisClusterType;
    const slots = (cluster as unknown as { _slots?: { rediscover?(c: unknown): Promise<void> } })
      ._slots;
    const start =
      cluster.masters.find((m) => m.client?.isReady)?.client ?? cluster.masters[0]?.client;
    if (typeof slots?.rediscover !== 'function' || start === undefined) return Promise.resolve();
    this.#lastRefresh = Date.now();
    this.#refreshing = slots
      .rediscover(start)
      .catch((e: unknown) => this.#reporter.report('re-reading the cluster slot map', e))
      .finally(() => {
        this.#refreshing = undefined;
        this.#lastRefresh = Date.now();
      });
    return this.#refreshing;
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

function destroy(client: AnyRedisClient): unknown {
  const c = client as { isOpen: boolean; destroy(): unknown };
  return c.isOpen ? c.destroy() : undefined;
}

// Errors are read by shape, not `instanceof Error`: Node's TLS errors come from another realm
// than the code's own under some runners (a jest VM context), and would be missed.
type ErrorLike = { message?: unknown; code?: unknown; cause?: unknown };
const asError = (e: unknown): ErrorLike | undefined =>
  typeof e === 'object' && e !== null ? e : undefined;

/** Every message of an error and its causes, for matching server replies however wrapped. */
function messages(e: unknown, depth = 0): string {
  if (typeof e === 'string') return e;
  const err = asError(e);
  if (depth > 3 || err === undefined) return '';
  return `${typeof err.message === 'string' ? err.message : ''} ${messages(err.cause, depth + 1)}`;
}

/** Every `code` of an error and its causes (Node's TLS verification codes among them). */
function codes(e: unknown, depth = 0): string[] {
  const err = asError(e);
  if (depth > 3 || err === undefined) return [];
  const code = typeof err.code === 'string' ? [err.code] : [];
  return [...code, ...codes(err.cause, depth + 1)];
}

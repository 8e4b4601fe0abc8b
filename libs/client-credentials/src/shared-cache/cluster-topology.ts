import { now } from '../timing/clock';
import type { ErrorReporter } from './shared-cache-stats';
import type { RedisClientLike } from '../shared-cache.options';

// After a failure, at most one re-read of a cluster's slot map per this interval.
const TOPOLOGY_REFRESH_MS = 500;

/**
 * The one part of node-redis's cluster client we reach past its documented API: the re-read of its
 * slot map. node-redis does it by itself only when a node answers MOVED or ASK; a master that died
 * never answers, so after a failover it would keep sending that shard's commands to the dead
 * address (redis/node-redis#2806, open). Its cluster declares the slot map in its types —
 * `RedisCluster._slots: RedisClusterSlots`, with `rediscover(startWith)` (5.x and 6.x alike; 6.x adds
 * an option that re-reads after reconnection attempts, which @keyv/redis's 5.x does not have) — but
 * documents neither. Everything about it is here: `cluster-topology.spec.ts` builds a real node-redis
 * cluster against a fake node whose answer to `CLUSTER SLOTS` changes, and fails when this no longer
 * re-reads the map (a renamed field, another signature, a re-read that asks nobody).
 */
export interface SlotMapReader {
  /** Re-reads the slot map, asking `start` (a node client of the cluster) first. */
  rediscover(start: unknown): Promise<void>;
}

/** The slot map reader of a node-redis cluster client, or undefined when it has none we know. */
export function slotMapReader(cluster: RedisClientLike): SlotMapReader | undefined {
  const slots = (cluster as { _slots?: Partial<SlotMapReader> })._slots;
  if (typeof slots?.rediscover !== 'function') return undefined;
  const rediscover = slots.rediscover;
  return { rediscover: (start) => rediscover.call(slots, start) };
}

/**
 * How long one re-read of the slot map may take: `max(1 s, 5 × operationTimeoutMs)`. The node asked
 * may be frozen or cut off without its connection closing (its client still "ready"); node-redis
 * bounds neither a connection's handshake nor `CLUSTER SLOTS`, and joins every re-read to the one
 * under way — one such node asked would hold them all until TCP gives up (minutes).
 */
export function slotMapReadBoundMs(operationTimeoutMs: number): number {
  return Math.max(1000, 5 * operationTimeoutMs);
}

/** A node of node-redis's slot map, as far as a re-read's start needs it. */
interface SlotNode {
  readonly client?: {
    readonly isReady?: boolean;
    readonly options?: { readonly socket?: object };
    sendCommand?(args: string[]): Promise<unknown>;
  };
}

type NodeClient = NonNullable<SlotNode['client']>;

/**
 * Has a cluster's slot map re-read after a failure, at most once per {@link TOPOLOGY_REFRESH_MS}:
 * the dead master is dropped and its promoted replica used. The re-read starts with the node that
 * answers a PING first — not a master that is frozen or cut off (its client still "ready") — and
 * is bounded ({@link slotMapReadBoundMs}): one given up lets the next start at once. Without a
 * {@link SlotMapReader} (a node-redis we do not know) nothing is re-read — MOVED replies still are
 * followed — and that is said once, at the first failure.
 */
export class ClusterTopology {
  readonly #reporter: ErrorReporter;
  readonly #boundMs: number;
  #refreshing?: Promise<void>;
  /** On the library's monotonic clock: a wall clock set back must not stop the re-reads. */
  #lastRefresh = -Infinity;
  #warned = false;

  constructor(reporter: ErrorReporter, boundMs: number) {
    this.#reporter = reporter;
    this.#boundMs = boundMs;
  }

  /**
   * Re-reads `cluster`'s slot map. Resolves when that re-read (or the one under way) is over or
   * given up; at once when there is none to do (one was done less than {@link TOPOLOGY_REFRESH_MS}
   * ago, or the client offers no way to re-read).
   */
  refresh(cluster: RedisClientLike): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    if (now() - this.#lastRefresh < TOPOLOGY_REFRESH_MS) return Promise.resolve();
    const reader = slotMapReader(cluster);
    if (reader === undefined) {
      if (!this.#warned) {
        this.#warned = true;
        this.#reporter.notice(
          "this node-redis cluster client has no slot map re-read the library knows (RedisCluster._slots.rediscover): after a master fails over, its slots' commands fail until node-redis reconnects by itself — use @redis/client 5 or 6, as @keyv/redis 5 installs",
        );
      }
      return Promise.resolve();
    }
    // `masters` is public (and `replicas`, with clients when the cluster reads from them).
    const replicas = (cluster as { replicas?: unknown }).replicas;
    const all: readonly unknown[] = [
      ...(cluster.masters ?? []),
      ...(Array.isArray(replicas) ? (replicas as unknown[]) : []),
    ];
    const clients = all
      .map((n) => (n as SlotNode | undefined)?.client)
      .filter((c): c is NodeClient => c !== undefined);
    if (clients.length === 0) return Promise.resolve();
    this.#lastRefresh = now();
    this.#refreshing = this.#reread(reader, clients).then((done) => {
      this.#refreshing = undefined;
      // Given up: the next failure tries again at once.
      this.#lastRefresh = done ? now() : -Infinity;
    });
    return this.#refreshing;
  }

  /** One re-read, each of its steps bounded; false when given up. */
  async #reread(reader: SlotMapReader, clients: NodeClient[]): Promise<boolean> {
    const ready = clients.filter((c) => c.isReady === true);
    const first = ready.length === 0 ? undefined : await this.#bound(this.#firstToAnswer(ready));
    // None ready, or none answering: start from one all the same — its read fails fast (socket
    // timeout) and node-redis then asks the root nodes it was configured with, which find a
    // promoted replica or nodes at new addresses.
    const start = first ?? clients[0];
    const read = reader.rediscover(this.#withSocketTimeout(start)).then(
      () => true,
      (e: unknown) => {
        this.#reporter.report('re-reading the cluster slot map', e);
        return true;
      },
    );
    if ((await this.#bound(read)) !== undefined) return true;
    this.#giveUp('CLUSTER SLOTS was not answered');
    return false;
  }

  #giveUp(why: string): void {
    this.#reporter.report(
      're-reading the cluster slot map',
      new Error(`${why} within ${this.#boundMs} ms`),
    );
  }

  /** What `p` resolves to, or undefined past {@link slotMapReadBoundMs}. */
  async #bound<T>(p: Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#boundMs);
      timer.unref();
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The node client that answers a PING first (all are asked at once), or undefined when none
   * does; one that cannot be sent a command is taken as it is.
   */
  #firstToAnswer(nodes: NodeClient[]): Promise<NodeClient | undefined> {
    return new Promise((resolve) => {
      let left = nodes.length;
      for (const node of nodes) {
        if (typeof node.sendCommand !== 'function') return resolve(node);
        node.sendCommand(['PING']).then(
          () => resolve(node),
          () => {
            if (--left === 0) resolve(undefined);
          },
        );
      }
    });
  }

  /**
   * `client` with {@link slotMapReadBoundMs} as its `socket.socketTimeout`, for the re-read's own
   * connection to its node (node-redis makes it from these options; the client itself is not
   * changed): should the node stop answering right after its PING, that connection fails and
   * node-redis goes on with the root nodes, instead of holding the re-read — and every later one,
   * joined to it — until TCP gives up. Every other member is the client's own.
   */
  #withSocketTimeout(client: NodeClient): unknown {
    const options = client.options;
    if (options === undefined) return client;
    const socket = { ...options.socket, socketTimeout: this.#boundMs };
    return Object.create(client, { options: { value: { ...options, socket } } }) as unknown;
  }
}

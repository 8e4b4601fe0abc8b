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
 * Has a cluster's slot map re-read after a failure, at most once per {@link TOPOLOGY_REFRESH_MS}:
 * the dead master is dropped and its promoted replica used. Without a {@link SlotMapReader} (a
 * node-redis we do not know) nothing is re-read — MOVED replies still are followed — and that is
 * said once, at the first failure.
 */
export class ClusterTopology {
  readonly #reporter: ErrorReporter;
  #refreshing?: Promise<void>;
  #lastRefresh = 0;
  #warned = false;

  constructor(reporter: ErrorReporter) {
    this.#reporter = reporter;
  }

  /**
   * Re-reads `cluster`'s slot map. Resolves when that re-read (or the one under way) is over; at
   * once when there is none to do (one was done less than {@link TOPOLOGY_REFRESH_MS} ago, or
   * the client offers no way to re-read).
   */
  refresh(cluster: RedisClientLike): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    if (Date.now() - this.#lastRefresh < TOPOLOGY_REFRESH_MS) return Promise.resolve();
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
    // `masters` is public: a node client that is up, asked first (node-redis falls back to the
    // root nodes when it cannot answer).
    const masters = (cluster.masters ?? []) as ReadonlyArray<{ client?: { isReady?: boolean } }>;
    const start = masters.find((m) => m.client?.isReady)?.client ?? masters[0]?.client;
    if (start === undefined) return Promise.resolve();
    this.#lastRefresh = Date.now();
    this.#refreshing = reader
      .rediscover(start)
      .catch((e: unknown) => this.#reporter.report('re-reading the cluster slot map', e))
      .finally(() => {
        this.#refreshing = undefined;
        this.#lastRefresh = Date.now();
      });
    return this.#refreshing;
  }
}

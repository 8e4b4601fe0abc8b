import type { ErrorReporter } from './shared-cache-stats';
import type { RedisClientLike } from '../shared-cache.options';

// After a failure, at most one re-read of a cluster's slot map per this interval.
const TOPOLOGY_REFRESH_MS = 500;

/**
 * A cluster keeps its slot map until a node answers MOVED; a master that died never does, and
 * node-redis would send its slots' commands to the dead address after its replica took over.
 * So after a failure the connection asks the client to re-read the map from the nodes (at most
 * once per {@link TOPOLOGY_REFRESH_MS}): the dead node is dropped and the promoted replica used.
 */
export class ClusterTopology {
  readonly #reporter: ErrorReporter;
  #refreshing?: Promise<void>;
  #lastRefresh = 0;

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
    // node-redis has no public call to re-read the slot map: this reads its private `_slots`
    // (node-redis 5's RedisClusterSlots) and calls `rediscover`. This file is the only place
    // that touches node-redis internals; a later issue replaces it. When the field is not
    // there (another node-redis version), nothing is re-read and MOVED replies still work.
    const slots = (cluster as unknown as { _slots?: { rediscover?(c: unknown): Promise<void> } })
      ._slots;
    const masters = (cluster.masters ?? []) as ReadonlyArray<{ client?: { isReady?: boolean } }>;
    const start = masters.find((m) => m.client?.isReady)?.client ?? masters[0]?.client;
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
}

import { now } from '../timing/clock';

/** Recoveries are announced at most this often (a cluster's shards may come and go in turns). */
export const RECOVERY_INTERVAL_MS = 250;

/**
 * Tells listeners when Redis is usable again after it was not: the connection is ready again, or a
 * command succeeds after commands failed (a cluster whose shard fails over never stops being
 * "ready"). At most once per {@link RECOVERY_INTERVAL_MS}; a success with no failure before it
 * announces nothing.
 */
export class RecoveryNotice {
  #failing = false;
  #last = -Infinity;
  readonly #listeners = new Set<() => void>();

  /** Calls `listener` at each recovery. */
  listen(listener: () => void): void {
    this.#listeners.add(listener);
  }

  /** A command failed, or was not sent because Redis could not be used. */
  failed(): void {
    this.#failing = true;
  }

  /** Redis answered, or became ready: a recovery if it had failed since the last one. */
  succeeded(): void {
    if (!this.#failing) return;
    // A length of time, on the monotonic clock: a wall clock set back must not silence recoveries.
    const time = now();
    if (time - this.#last < RECOVERY_INTERVAL_MS) return;
    this.#failing = false;
    this.#last = time;
    for (const listener of this.#listeners) listener();
  }

  /** No more announcements. */
  close(): void {
    this.#listeners.clear();
  }
}

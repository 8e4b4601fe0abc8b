import { now } from '../timing/clock';
import { after, type Timer } from '../timing/timers';

/**
 * The most items one turn of the timer fires. Tokens that come due together (a refresh storm:
 * thousands cached in one sweep) are fired over several turns of the event loop, each short, so
 * that no caller waits behind the whole batch; the refreshes run a few at a time anyway.
 */
export const FIRE_PER_TURN = 64;

/** Something the schedule holds: it keeps its own position there, -1 when not scheduled. */
export interface Scheduled {
  slot: number;
}

/**
 * When each token in memory is next due — its refresh, or the retry of a failed one — on one
 * timer for the whole cache. A Node `Timeout` per token costs about 300 bytes of heap (a cache of
 * 100,000 tokens: 30 MB of timers); here a token costs a slot in two arrays.
 *
 * A binary min-heap by due time, written here because removal by position is the point: an
 * evicted or replaced token leaves the schedule at once (O(log n)), so the schedule never keeps a
 * token alive that the cache let go. The npm heaps (heap-js, mnemonist, @datastructures-js) remove
 * by search, O(n) per eviction.
 */
export class RefreshSchedule<T extends Scheduled> {
  private readonly items: T[] = [];
  /** Due times, epoch ms, parallel to `items`: a packed array of doubles, no box per number. */
  private readonly due: number[] = [];
  private timer?: Timer;
  private timerAt = Infinity;
  private closed = false;

  /** @param fire called with each item once it is due (and no longer scheduled) */
  constructor(private readonly fire: (item: T) => void) {}

  get size(): number {
    return this.items.length;
  }

  /**
   * Schedules `item` at `at` (ms on the library's clock, {@link now}), instead of any time it had. A time that is not a finite
   * number unschedules it: one NaN in the heap would break its order for every item.
   */
  set(item: T, at: number): void {
    if (!Number.isFinite(at)) return this.delete(item);
    if (this.closed) return;
    let i = item.slot;
    if (i < 0) {
      i = this.items.length;
      this.items.push(item);
      this.due.push(at);
      item.slot = i;
    } else {
      this.due[i] = at;
    }
    this.down(this.up(i));
    this.arm();
  }

  /** Unschedules `item` (nothing if it is not scheduled). */
  delete(item: T): void {
    const i = item.slot;
    if (i < 0) return;
    item.slot = -1;
    const lastItem = this.items.pop()!;
    const lastDue = this.due.pop()!;
    if (i === this.items.length) return;
    this.place(lastItem, lastDue, i);
    this.down(this.up(i));
    // The timer may now fire for nothing: it then re-arms for the new first item.
  }

  /** Forgets everything and stops the timer; schedules nothing more. */
  close(): void {
    this.closed = true;
    this.timer?.clear();
    this.timer = undefined;
    for (const item of this.items) item.slot = -1;
    this.items.length = 0;
    this.due.length = 0;
  }

  /** Sets the timer for the first due time, unless one is set already for that time or earlier. */
  private arm(): void {
    const next = this.due.length > 0 ? this.due[0] : Infinity;
    if (next >= this.timerAt || this.closed) return;
    this.timer?.clear();
    this.timerAt = next;
    this.timer = after(next - now(), () => this.run());
  }

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    // Taken out first, then fired: an item that `fire` schedules again at once waits for the next
    // turn of the timer, instead of looping here. At most FIRE_PER_TURN: the rest, due already,
    // re-arm the timer for the next turn.
    const ready: T[] = [];
    const time = now();
    while (this.due.length > 0 && this.due[0] <= time && ready.length < FIRE_PER_TURN) {
      const item = this.items[0];
      this.delete(item);
      ready.push(item);
    }
    // Every ready item fires, even after one threw (a bug: it is thrown once all have fired):
    // those taken out of the heap would otherwise never be due again.
    let failure: { error: unknown } | undefined;
    for (const item of ready) {
      try {
        this.fire(item);
      } catch (error) {
        failure ??= { error };
      }
    }
    this.arm();
    if (failure) throw failure.error;
  }

  private place(item: T, at: number, i: number): void {
    this.items[i] = item;
    this.due[i] = at;
    item.slot = i;
  }

  /** Moves the item at `i` towards the root while it is due earlier than its parent. */
  private up(i: number): number {
    const item = this.items[i];
    const at = this.due[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.due[parent] <= at) break;
      this.place(this.items[parent], this.due[parent], i);
      i = parent;
    }
    this.place(item, at, i);
    return i;
  }

  /** Moves the item at `i` towards the leaves while a child is due earlier. */
  private down(i: number): void {
    const n = this.items.length;
    const item = this.items[i];
    const at = this.due[i];
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.due[right] < this.due[left] ? right : left;
      if (this.due[child] >= at) break;
      this.place(this.items[child], this.due[child], i);
      i = child;
    }
    this.place(item, at, i);
  }
}

/**
 * The library's clock: milliseconds since the epoch as the wall clock said when the process
 * started, then counted by the monotonic clock. It never jumps when the wall clock is set back or
 * forth (NTP step, VM resume, a hand-set clock): a token's lifetime, a refresh point, a cool-down
 * and a deadline are lengths of time, and keep their length however the wall clock moves.
 *
 * Times that cross the process boundary are wall-clock times — an authority's expiry, a token in
 * a store another replica reads, a time shown to users — and are converted where they cross it
 * ({@link fromWallClock}, {@link toWallClock}), with the two clocks read together.
 *
 * It costs what `Date.now()` costs (both ~50 ns on Node 20): the cache-hit path reads it.
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A wall-clock time (epoch ms: an authority's expiry, a stored token's) on the library's clock. */
export function fromWallClock(wallTime: number): number {
  return now() + (wallTime - Date.now());
}

/** A time of the library's clock as a wall-clock time (epoch ms), for a store or for users. */
export function toWallClock(time: number): number {
  return Date.now() + (time - now());
}

/**
 * The library's clock: milliseconds since the epoch as the wall clock said when the process
 * started, then counted by the monotonic clock. It never follows the wall clock back (an NTP step,
 * a hand-set clock): a token's lifetime, a refresh point, a cool-down and a deadline are lengths
 * of time, and keep their length. It does follow the wall clock forward, once it sees it jump
 * ({@link observeWallClock}): the monotonic clock stands still while the host is suspended (a
 * laptop, a VM paused and resumed), and tokens that expired meanwhile must not be served. A wall
 * clock set forward by mistake then costs tokens refreshed early, once: set back and forward again
 * — a mistake corrected, two time sources that pull it back and forth — it moves nothing more.
 *
 * Times that cross the process boundary are wall-clock times — an authority's expiry, a token in
 * a store another replica reads, a time shown to users — and are converted where they cross it
 * ({@link fromWallClock}, {@link toWallClock}), with the two clocks read together.
 *
 * It costs what `Date.now()` costs (both ~45–50 ns on Node 20): the cache-hit path reads it.
 */
export function now(): number {
  // `performance.timeOrigin` is read once per `performance` object, not per call: its getter
  // costs a third of a clock read. The object is the same for the life of the process, but for a
  // test's fake clock, which replaces it (and its time origin).
  if (performance !== source) adopt();
  return origin + performance.now() + ahead;
}

/** The `performance` object the times below were measured with. */
let source = performance;
/** Its time origin (epoch ms), constant for that object. */
let origin = performance.timeOrigin;
/** How far the wall clock has jumped ahead of the monotonic clock since the process started. */
let ahead = 0;
/** The highest lead of the wall clock over the monotonic clock observed (see observeWallClock). */
let highGap = 0;

/**
 * Takes the current `performance` object; starts over when its time origin is another (a fake
 * clock installed or removed), not when the same clock comes in a new object (a wrapper). The
 * highest lead is measured afresh either way: a test's fake clock installed anew with the same
 * origin restarts its count, and a lead seen on the clock before would hide a jump on this one.
 */
function adopt(): void {
  source = performance;
  if (performance.timeOrigin !== origin) {
    origin = performance.timeOrigin;
    ahead = 0;
  }
  highGap = Date.now() - (origin + performance.now());
}

/** A change of the lead smaller than this is the clocks' own drift (NTP slewing), not a jump. */
const JUMP_MS = 1000;

/**
 * Compares the clocks, and moves the library's clock forward by as much as the wall clock's lead
 * jumped beyond the highest lead seen so far — never back: a wall clock set back is not followed.
 * Measured from the highest lead, not the last, so that a wall clock set back and then forward
 * again (a bad NTP step corrected; a hypervisor's time sync and NTP fighting) does not take the
 * correction for a suspend: each such round trip would cost every cached token its length, and
 * the library's clock would drift ahead without bound. The price: a host suspended after its wall
 * clock was set back, and before it is set right, has the suspend counted short by that step (its
 * tokens served up to that much longer). Called every second by each running token service, and
 * wherever the two clocks are read together.
 */
export function observeWallClock(): void {
  if (performance !== source || performance.timeOrigin !== origin) {
    const before = origin;
    adopt();
    if (origin !== before) return;
  }
  const gap = Date.now() - (origin + performance.now());
  if (gap > highGap + JUMP_MS) ahead += gap - highGap;
  if (gap > highGap) highGap = gap;
}

/** A wall-clock time (epoch ms: an authority's expiry, a stored token's) on the library's clock. */
export function fromWallClock(wallTime: number): number {
  observeWallClock();
  return now() + (wallTime - Date.now());
}

/** A time of the library's clock as a wall-clock time (epoch ms), for a store or for users. */
export function toWallClock(time: number): number {
  return Date.now() + (time - now());
}

/**
 * The longest delay a Node timer keeps: 2^31-1 ms (24.8 days). Node fires a timer with a longer
 * delay after 1 ms (with a warning), so a 30-day interval became a 1 ms loop.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * How a delay is armed: `count` steps of `stepMs`, each within {@link MAX_TIMER_DELAY_MS}. The
 * steps are rounded up, so a long timer fires at most `count - 1` ms late, never early.
 */
function stepsOf(ms: number): { count: number; stepMs: number } {
  if (!Number.isFinite(ms)) {
    throw new RangeError(`a timer needs a finite delay in milliseconds, not ${ms}`);
  }
  const count = Math.max(1, Math.ceil(ms / MAX_TIMER_DELAY_MS));
  return { count, stepMs: Math.ceil(ms / count) };
}

/**
 * `setTimeout` for any delay the daemon computes: above {@link MAX_TIMER_DELAY_MS} it counts
 * equal steps on one Node timer instead of firing after 1 ms.
 *
 * @returns a Node timer: `clearTimeout` (or `clearInterval`) stops it, `unref()` works.
 * @throws RangeError when `ms` is not a finite number
 * @example setSafeTimeout(() => abort(), config.shutdownTimeoutSeconds * 1000);
 */
export function setSafeTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  const { count, stepMs } = stepsOf(ms);
  if (count === 1) return setTimeout(fn, ms);
  let left = count;
  const timer = setInterval(() => {
    if (--left > 0) return;
    clearInterval(timer);
    fn();
  }, stepMs);
  return timer;
}

/**
 * `setInterval` for any period the daemon computes: above {@link MAX_TIMER_DELAY_MS} it fires
 * every `count`-th step of one Node timer instead of every millisecond. The result is a plain
 * Node timer, so `SchedulerRegistry.addInterval` / `deleteInterval` take it as they take
 * `setInterval`'s.
 *
 * @throws RangeError when `ms` is not a finite number
 * @example registry.addInterval(name, setSafeInterval(() => tick(), intervalSeconds * 1000));
 */
export function setSafeInterval(fn: () => void, ms: number): NodeJS.Timeout {
  const { count, stepMs } = stepsOf(ms);
  if (count === 1) return setInterval(fn, ms);
  let left = count;
  return setInterval(() => {
    if (--left > 0) return;
    left = count;
    fn();
  }, stepMs);
}

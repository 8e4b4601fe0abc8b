import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MAX_TIMER_DELAY_MS, setSafeInterval, setSafeTimeout } from './safe-timers';

const DAY_MS = 86_400_000;

describe('safe timers', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    jest.clearAllTimers();
    jest.useRealTimers();
  });

  it('a timeout above 2^31-1 ms fires once, when due, not after 1 ms', () => {
    const fn = jest.fn();
    setSafeTimeout(fn, 30 * DAY_MS);
    jest.advanceTimersByTime(2_000);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(30 * DAY_MS - 2_001);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(100 * DAY_MS);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('an interval above 2^31-1 ms fires once per period', () => {
    const fn = jest.fn();
    setSafeInterval(fn, 90 * DAY_MS);
    jest.advanceTimersByTime(90 * DAY_MS - 1);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(2 * 90 * DAY_MS);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('a delay that does not split evenly fires at most a few ms late, never early', () => {
    const fn = jest.fn();
    const ms = 2 * MAX_TIMER_DELAY_MS + 1;
    setSafeTimeout(fn, ms);
    jest.advanceTimersByTime(ms - 1);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(3);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('up to 2^31-1 ms: a plain Node timer', () => {
    const once = jest.fn();
    const every = jest.fn();
    setSafeTimeout(once, MAX_TIMER_DELAY_MS);
    setSafeInterval(every, 60_000);
    jest.advanceTimersByTime(MAX_TIMER_DELAY_MS);
    expect(once).toHaveBeenCalledTimes(1);
    expect(every).toHaveBeenCalledTimes(Math.floor(MAX_TIMER_DELAY_MS / 60_000));
  });

  it("returns a Node timer: clearTimeout / clearInterval (and SchedulerRegistry's delete) stop it", () => {
    const fn = jest.fn();
    const timeout = setSafeTimeout(fn, 40 * DAY_MS);
    const interval = setSafeInterval(fn, 40 * DAY_MS);
    jest.advanceTimersByTime(30 * DAY_MS);
    clearTimeout(timeout);
    clearInterval(interval);
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(100 * DAY_MS);
    expect(fn).not.toHaveBeenCalled();
    expect(typeof setSafeTimeout(fn, 40 * DAY_MS).unref).toBe('function');
  });

  it('refuses a delay that is not a finite number instead of firing at once', () => {
    const fn = jest.fn();
    expect(() => setSafeTimeout(fn, Number.NaN)).toThrow(RangeError);
    expect(() => setSafeInterval(fn, Infinity)).toThrow(
      'a timer needs a finite delay in milliseconds, not Infinity',
    );
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe("the daemon's timers", () => {
  /** Every source file of the daemon, specs left out. */
  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? sources(join(dir, e.name))
        : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')
          ? [join(dir, e.name)]
          : [],
    );
  }

  it('are all armed through safe-timers (a computed delay never reaches a Node timer directly)', () => {
    const root = join(__dirname, '..');
    const direct = sources(root)
      .filter((f) => !f.endsWith(join('timing', 'safe-timers.ts')))
      .filter((f) => /\bset(Timeout|Interval)\s*\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(root, f));
    expect(direct).toEqual([]);
  });
});

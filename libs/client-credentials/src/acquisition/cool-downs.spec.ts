import { TokenEndpointError } from '../errors/client-credentials.errors';
import { CoolDowns, MAX_COOL_DOWN_MS } from './cool-downs';

const policy = { initialDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };

const failure = (retryAfterMs?: number) =>
  new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', { retryAfterMs }, true);

/**
 * Checks that `key` cools down for exactly `ms` from now, moving the clock forward by `ms` (never
 * back: the library's clock is monotonic, so the wall clock is never set in these specs).
 */
function expectCoolingFor(coolDowns: CoolDowns, key: string, ms: number): void {
  expect(coolDowns.current(key)).toBeDefined();
  jest.advanceTimersByTime(ms - 1);
  expect(coolDowns.current(key)).toBeDefined();
  jest.advanceTimersByTime(1);
  expect(coolDowns.current(key)).toBeUndefined();
}

describe('CoolDowns', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    // Backoff jitter at its lowest: half the ceiling, exactly.
    jest.spyOn(Math, 'random').mockReturnValue(0);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('answers the failure itself while cooling down, nothing before nor after', () => {
    const coolDowns = new CoolDowns(policy, 10);
    const error = failure();
    expect(coolDowns.current('k')).toBeUndefined();

    expect(coolDowns.start('k', error)).toBe(error);

    expect(coolDowns.current('k')).toBe(error);
    jest.advanceTimersByTime(499);
    expect(coolDowns.current('k')).toBe(error);
    jest.advanceTimersByTime(1);
    expect(coolDowns.current('k')).toBeUndefined();
    // Other keys never cooled down.
    expect(coolDowns.current('other')).toBeUndefined();
  });

  it('grows with each failure in a row and is capped at 5 s', () => {
    const coolDowns = new CoolDowns(policy, 10);
    expect(MAX_COOL_DOWN_MS).toBe(5000);
    // Half of initial · 2^n (jitter at its lowest), then the cap.
    for (const ms of [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]) {
      coolDowns.start('k', failure());
      expectCoolingFor(coolDowns, 'k', ms);
    }
  });

  it('is capped at 5 s at the highest jitter too', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    const coolDowns = new CoolDowns(policy, 10);
    for (const ms of [1000, 2000, 4000, 5000, 5000]) {
      coolDowns.start('k', failure());
      expectCoolingFor(coolDowns, 'k', ms);
    }
  });

  it('starts over after a success ends it', () => {
    const coolDowns = new CoolDowns(policy, 10);
    coolDowns.start('k', failure());
    coolDowns.start('k', failure());
    coolDowns.start('k', failure());
    jest.advanceTimersByTime(1000);
    expect(coolDowns.current('k')).toBeDefined();

    coolDowns.end('k');

    expect(coolDowns.current('k')).toBeUndefined();
    coolDowns.start('k', failure());
    expectCoolingFor(coolDowns, 'k', 500);
  });

  it('honours a Retry-After longer than the backoff, up to retry.maxRetryAfterMs', () => {
    const coolDowns = new CoolDowns(policy, 10);

    // Beyond the 5 s cap: the authority asked for it.
    coolDowns.start('asked', failure(20_000));
    expectCoolingFor(coolDowns, 'asked', 20_000);
    // One misbehaving answer does not lock callers out for an hour.
    coolDowns.start('excessive', failure(3_600_000));
    expectCoolingFor(coolDowns, 'excessive', 60_000);
    // Shorter than the backoff: the backoff.
    coolDowns.start('short', failure(100));
    expectCoolingFor(coolDowns, 'short', 500);
  });

  it('keeps at most maxEntries keys, forgetting the one that failed least recently', () => {
    const coolDowns = new CoolDowns(policy, 2);
    coolDowns.start('a', failure());
    coolDowns.start('b', failure());
    // Failing again moves `a` behind `b`.
    coolDowns.start('a', failure());

    coolDowns.start('c', failure());

    expect(coolDowns.current('b')).toBeUndefined();
    expect(coolDowns.current('a')).toBeDefined();
    expect(coolDowns.current('c')).toBeDefined();
    // `b` forgotten: its next failure counts as its first.
    coolDowns.start('b', failure());
    expectCoolingFor(coolDowns, 'b', 500);
  });
});

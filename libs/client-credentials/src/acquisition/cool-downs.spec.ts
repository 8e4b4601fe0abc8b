import { TokenEndpointError } from '../errors/client-credentials.errors';
import { CoolDowns, MAX_COOL_DOWN_MS } from './cool-downs';

const policy = { initialDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };

const failure = (retryAfterMs?: number) =>
  new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', { retryAfterMs }, true);

/** How long `key` cools down from now: advanced 1 ms at a time would be slow, so searched. */
function coolingFor(coolDowns: CoolDowns, key: string): number {
  const start = Date.now();
  let low = 0;
  let high = 24 * 3600_000;
  // The first ms at which `key` no longer cools down, by bisection on the fake clock.
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    jest.setSystemTime(start + mid);
    if (coolDowns.current(key) === undefined) high = mid;
    else low = mid + 1;
  }
  jest.setSystemTime(start);
  return low;
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
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      coolDowns.start('k', failure());
      seen.push(coolingFor(coolDowns, 'k'));
    }
    // Half of initial · 2^n (jitter at its lowest), then the cap.
    expect(MAX_COOL_DOWN_MS).toBe(5000);
    expect(seen).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  });

  it('is capped at 5 s at the highest jitter too', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    const coolDowns = new CoolDowns(policy, 10);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      coolDowns.start('k', failure());
      seen.push(coolingFor(coolDowns, 'k'));
    }
    expect(seen).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it('starts over after a success ends it', () => {
    const coolDowns = new CoolDowns(policy, 10);
    coolDowns.start('k', failure());
    coolDowns.start('k', failure());
    coolDowns.start('k', failure());
    expect(coolingFor(coolDowns, 'k')).toBe(2000);

    coolDowns.end('k');

    expect(coolDowns.current('k')).toBeUndefined();
    coolDowns.start('k', failure());
    expect(coolingFor(coolDowns, 'k')).toBe(500);
  });

  it('honours a Retry-After longer than the backoff, up to retry.maxRetryAfterMs', () => {
    const coolDowns = new CoolDowns(policy, 10);

    coolDowns.start('asked', failure(20_000));
    coolDowns.start('excessive', failure(3_600_000));
    coolDowns.start('short', failure(100));

    // Beyond the 5 s cap: the authority asked for it.
    expect(coolingFor(coolDowns, 'asked')).toBe(20_000);
    // One misbehaving answer does not lock callers out for an hour.
    expect(coolingFor(coolDowns, 'excessive')).toBe(60_000);
    // Shorter than the backoff: the backoff.
    expect(coolingFor(coolDowns, 'short')).toBe(500);
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
    expect(coolingFor(coolDowns, 'b')).toBe(500);
  });
});

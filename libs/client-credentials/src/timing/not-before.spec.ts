import { NotBefore } from './not-before';

describe('NotBefore', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('holds for the Retry-After, capped by maxRetryAfterMs; a shorter one leaves a longer hold', () => {
    const wait = new NotBefore({ maxRetryAfterMs: 60_000 });
    expect(wait.held()).toBeUndefined();
    wait.hold(undefined, 'none');
    wait.hold(0, 'zero');
    expect(wait.held()).toBeUndefined();
    wait.hold(3_600_000, '429, Retry-After 3600 s');
    expect(wait.held()).toEqual({ ms: 60_000, reason: '429, Retry-After 3600 s' });
    jest.advanceTimersByTime(20_000);
    wait.hold(5_000, '429, Retry-After 5 s');
    expect(wait.held()).toEqual({ ms: 40_000, reason: '429, Retry-After 3600 s' });
    jest.advanceTimersByTime(40_000);
    expect(wait.held()).toBeUndefined();
  });
});

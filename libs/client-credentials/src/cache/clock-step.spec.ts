// A token's lifetime is a length of time: a wall clock set back (NTP step, VM resume, by hand)
// must not make a token served, or its refresh wait, longer than the authority said.
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import { now, observeWallClock } from '../timing/clock';
import { RefreshSchedule } from './refresh-schedule';
import { TokenCache, type StoredToken } from './token-cache';
import type { CachedEntry } from './cached-entry';

const silent = { log() {}, warn() {}, debug() {}, error() {} };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const credential = {
  name: 'api',
  key: 'api',
  stats: { cacheHits: 0 },
  storeKeys: () => ['k'],
  boundThumbprint: () => undefined,
} as unknown as Credential;
const request: TokenRequest = {
  credential,
  tenantId: 't1',
  scopes: ['api://x/.default'],
  scopeKey: 'api://x/.default',
};

/** A one-hour token as the authority issued it, by the wall clock of the moment. */
function issuedNow(): StoredToken {
  const now = Date.now();
  return {
    v: 1,
    token: 't',
    tokenType: 'Bearer',
    obtainedAt: now,
    expiresOn: now + HOUR,
    refreshOn: now + HOUR / 2,
    scopes: request.scopes,
    tenantId: 't1',
    source: 'secret#0',
  };
}

describe('wall clock steps', () => {
  beforeEach(() =>
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    }),
  );
  afterEach(() => jest.useRealTimers());

  it('a token obtained while the clock ran 2 h fast stops being served on time after the clock is set back', async () => {
    // The clock runs 2 h fast while the token is obtained, then is set right.
    jest.setSystemTime(Date.now() + 2 * HOUR);
    const cache = new TokenCache(undefined, 10, 2 * MINUTE, 0, silent);
    const entry = await cache.write(request, 'k', issuedNow());
    jest.setSystemTime(Date.now() - 2 * HOUR);

    await jest.advanceTimersByTimeAsync(57 * MINUTE);
    expect(cache.serve(entry, request.scopes)?.token).toBe('t');
    // 70 minutes after it was issued: past its end (1 h less the 2 min skew).
    await jest.advanceTimersByTimeAsync(13 * MINUTE);
    expect(cache.serve(entry, request.scopes)).toBeUndefined();
  });

  it('a token obtained before the clock is set back is due for refresh at half its lifetime, not 2 h later', async () => {
    const cache = new TokenCache(undefined, 10, 2 * MINUTE, 0, silent);
    const entry = await cache.write(request, 'k', issuedNow());
    const due: CachedEntry[] = [];
    const schedule = new RefreshSchedule<CachedEntry>((e) => due.push(e));
    schedule.set(entry, entry.refreshAt);
    jest.setSystemTime(Date.now() - 2 * HOUR);

    await jest.advanceTimersByTimeAsync(HOUR / 2 - 1);
    expect(due).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(due).toEqual([entry]);
    schedule.close();
  });

  it('a host suspended for 2 h (the wall clock jumps ahead, the monotonic one stood still) no longer serves a token that expired meanwhile', async () => {
    const cache = new TokenCache(undefined, 10, 2 * MINUTE, 0, silent);
    const entry = await cache.write(request, 'k', issuedNow());
    // Resumed: the wall clock is 2 h further on; the monotonic clock did not count the suspend.
    jest.setSystemTime(Date.now() + 2 * HOUR);
    expect(cache.serve(entry, request.scopes)?.token).toBe('t');

    // A running token service compares the clocks every second.
    observeWallClock();
    expect(cache.serve(entry, request.scopes)).toBeUndefined();
  });

  it('a wall clock set back and then corrected forward costs a token nothing', async () => {
    const cache = new TokenCache(undefined, 10, 2 * MINUTE, 0, silent);
    const entry = await cache.write(request, 'k', issuedNow());
    const usableUntil = entry.usableUntil;
    observeWallClock();
    jest.setSystemTime(Date.now() - 50 * MINUTE); // a bad NTP step
    await jest.advanceTimersByTimeAsync(2000);
    observeWallClock();
    jest.setSystemTime(Date.now() + 50 * MINUTE); // corrected
    observeWallClock();

    // 10 minutes after it was issued, the token has 48 minutes of use left, as before the steps.
    await jest.advanceTimersByTimeAsync(10 * MINUTE);
    expect(cache.serve(entry, request.scopes)?.token).toBe('t');
    expect(usableUntil - now()).toBe(48 * MINUTE - 2000);
  });

  it('a wall clock pulled back and forth (two time sources fighting) does not run the library clock ahead', async () => {
    observeWallClock();
    const lead = now() - Date.now();
    for (let i = 0; i < 100; i++) {
      jest.setSystemTime(Date.now() - 1500);
      await jest.advanceTimersByTimeAsync(30_000);
      observeWallClock();
      jest.setSystemTime(Date.now() + 1500);
      await jest.advanceTimersByTimeAsync(30_000);
      observeWallClock();
    }
    expect(now() - Date.now()).toBe(lead);
  });

  it('a wall clock set forward by mistake is followed once: set back, then forward again, it moves nothing more', async () => {
    observeWallClock();
    const start = now();
    jest.setSystemTime(Date.now() + HOUR); // a mistake: taken for a suspend
    observeWallClock();
    expect(now() - start).toBe(HOUR);
    jest.setSystemTime(Date.now() - HOUR); // set right: not followed
    observeWallClock();
    jest.setSystemTime(Date.now() + HOUR); // the same mistake again
    observeWallClock();
    expect(now() - start).toBe(HOUR);
    // A real suspend after it is followed, from the highest lead seen.
    jest.setSystemTime(Date.now() + 2 * HOUR);
    observeWallClock();
    expect(now() - start).toBe(3 * HOUR);
  });
});

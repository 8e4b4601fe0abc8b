// A token's lifetime is a length of time: a wall clock set back (NTP step, VM resume, by hand)
// must not make a token served, or its refresh wait, longer than the authority said.
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
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

/** A JWT whose issuer says it expires at `expiresOn` (epoch ms). */
function jwt(expiresOn: number): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp: Math.floor(expiresOn / 1000), tid: 't1' })}.sig`;
}

/** A one-hour token as the authority issued it, by the wall clock of `now` (of this host's). */
function issuedNow(now = Date.now(), token = 't'): StoredToken {
  return {
    v: 1,
    token,
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

  describe('a token read from the store', () => {
    // A clock of its own for each case: the library's clock keeps a lead it followed (the cases
    // above step it forward) for as long as its time origin is the same.
    let origin = 1_800_000_000_000;
    beforeEach(() =>
      jest.useFakeTimers({
        now: (origin += HOUR),
        doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
      }),
    );

    /** A store holding `stored`, read through a cache with the 2-min skew. */
    async function storeWith(stored: StoredToken) {
      const store = createCache({ stores: [new Keyv()] });
      await store.set('k', stored, HOUR);
      return new TokenCache(store, 10, 2 * MINUTE, 0, silent);
    }

    it.each([
      ['a JWT', true],
      ['an opaque token', false],
    ])(
      "%s of a replica whose clock is right is not served past its real expiry once this host's clock is set back",
      async (_kind, isJwt) => {
        observeWallClock();
        // The other replica's clock and the library's agree: both count real time.
        const writtenAt = now();
        const stored = issuedNow(writtenAt, isJwt ? jwt(writtenAt + HOUR) : 'opaque-token');
        const cache = await storeWith(stored);
        jest.setSystemTime(Date.now() - HOUR); // a bad NTP step on this host
        observeWallClock();

        // Read at once, it keeps its whole life: 58 min of use, refreshed at half of it.
        const fresh = await cache.read(request);
        expect(fresh!.usableUntil - now()).toBe(58 * MINUTE);
        expect(fresh!.refreshAt - now()).toBe(30 * MINUTE);
        // Read 50 min after it was written (taken as written on this host's clock, it was served
        // 48 min past its real expiry): 8 min of use left, and due for refresh.
        await jest.advanceTimersByTimeAsync(50 * MINUTE);
        const late = await cache.read(request);
        expect(late!.usableUntil - now()).toBe(8 * MINUTE);
        expect(late!.refreshAt).toBeLessThanOrEqual(now());
        await jest.advanceTimersByTimeAsync(8 * MINUTE);
        expect(await cache.read(request)).toBeUndefined();
      },
    );

    it('a token written on a fast clock since set right looks shorter by the step, never longer', async () => {
      // A clock that ran 30 min fast when the process started, set right: the library's clock
      // keeps its lead, and a stored time may be on either clock.
      observeWallClock();
      jest.setSystemTime(Date.now() - 30 * MINUTE);
      observeWallClock();
      const cache = await storeWith(issuedNow());
      const entry = await cache.read(request);
      // 58 min of use, less the 30 min the two clocks disagree by: fetched again early.
      expect(entry!.usableUntil - now()).toBe(28 * MINUTE);
    });

    it('a wall clock stepped forward (followed, as a suspend) costs a stored token no more than the step', async () => {
      observeWallClock();
      const cache = await storeWith(issuedNow());
      await jest.advanceTimersByTimeAsync(10 * MINUTE);
      jest.setSystemTime(Date.now() + 20 * MINUTE);
      observeWallClock();
      // 60 − 10 − 2 min of skew, less the 20 min the clock jumped: as for a token in memory.
      expect((await cache.read(request))!.usableUntil - now()).toBe(28 * MINUTE);
    });
  });
});

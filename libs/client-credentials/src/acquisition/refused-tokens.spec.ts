import { CachedEntry } from '../cache/cached-entry';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import { RefusedTokens } from './refused-tokens';

const request: TokenRequest = {
  credential: { name: 'api', key: 'api' } as unknown as Credential,
  tenantId: 't1',
  scopes: ['api://x/.default'],
  scopeKey: 'api://x/.default',
};

/** An entry of `token` obtained `agoMs` before now, living an hour. */
function entry(token: string, agoMs = 0): CachedEntry {
  const obtainedAt = Date.now() - agoMs;
  return new CachedEntry(
    request,
    {
      token,
      tokenType: 'Bearer',
      obtainedAt,
      expiresOn: obtainedAt + 3_600_000,
      refreshOn: obtainedAt + 1_800_000,
      scopes: request.scopes,
    },
    0,
  );
}

const S = 1000;

describe('RefusedTokens', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('may refuse any token of a key with no refusal yet, and names the refused one', () => {
    const refused = new RefusedTokens(10);
    const t1 = entry('t1', 60 * S);
    expect(refused.mayRefuse('k', 't1', t1)).toBe(true);
    expect(refused.mayRefuse('k', 't1')).toBe(true);
    expect(refused.tokenOf('k')).toBeUndefined();

    refused.add('k', 't1', t1);

    expect(refused.tokenOf('k')).toBe('t1');
    expect(refused.tokenOf('other')).toBeUndefined();
  });

  it('holds off a replacement refused at once for 10 s, doubling per refusal in a row up to 10 min', () => {
    const refused = new RefusedTokens(10);
    refused.add('k', 't0', entry('t0', 60 * S));
    const holdOffs: number[] = [];
    for (let n = 1; n <= 9; n++) {
      // The replacement, obtained just after the refusal, refused at once.
      const replacement = entry(`t${n}`);
      const since = Date.now();
      while (!refused.mayRefuse('k', replacement.token, replacement)) {
        jest.advanceTimersByTime(S);
      }
      holdOffs.push((Date.now() - since) / S);
      refused.add('k', replacement.token, replacement);
    }
    expect(holdOffs).toEqual([10, 20, 40, 80, 160, 320, 600, 600, 600]);
  });

  it('holds off nothing but the replacement: an older token, one memory does not hold, or another token', () => {
    const refused = new RefusedTokens(10);
    const t1 = entry('t1', 60 * S);
    refused.add('k', 't1', t1);
    const t2 = entry('t2');

    expect(refused.mayRefuse('k', 't2', t2)).toBe(false);
    // A token obtained before the refusal is no replacement.
    expect(refused.mayRefuse('k', 'old', entry('old', S))).toBe(true);
    // Memory does not hold it (`known` absent or of another token): refused as asked.
    expect(refused.mayRefuse('k', 't2')).toBe(true);
    expect(refused.mayRefuse('k', 't3', t2)).toBe(true);
    // Another key has no refusal.
    expect(refused.mayRefuse('k2', 't2', t2)).toBe(true);
  });

  it('starts a new streak when a replacement is refused more than twice its hold-off later', () => {
    const refused = new RefusedTokens(10);
    refused.add('k', 't0', entry('t0', 60 * S));
    const t1 = entry('t1');
    jest.advanceTimersByTime(10 * S);
    refused.add('k', 't1', t1); // in a row: streak 2, hold-off 20 s
    const t2 = entry('t2');
    jest.advanceTimersByTime(40 * S); // twice 20 s: no longer in a row
    refused.add('k', 't2', t2); // streak 1 again
    const t3 = entry('t3');

    jest.advanceTimersByTime(10 * S - 1);
    expect(refused.mayRefuse('k', 't3', t3)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(refused.mayRefuse('k', 't3', t3)).toBe(true);
  });

  it('filters out the refused token and older ones, and keeps what accept refuses out', () => {
    const refused = new RefusedTokens(10);
    const accept = (e: CachedEntry) => e.token !== 'vetoed';
    // No refusal: accept itself, or nothing.
    expect(refused.filter('k', accept)).toBe(accept);
    expect(refused.filter('k')).toBeUndefined();

    refused.add('k', 't1', entry('t1', 60 * S));
    const filter = refused.filter('k')!;
    const narrowed = refused.filter('k', accept)!;

    expect(filter(entry('t1', 60 * S))).toBe(false);
    // The same token however obtained (another replica's copy of it).
    expect(filter(entry('t1'))).toBe(false);
    // Obtained before the refused one, or at the same time: older.
    expect(filter(entry('t0', 120 * S))).toBe(false);
    expect(filter(entry('twin', 60 * S))).toBe(false);
    // Newer: accepted, unless accept says no.
    expect(filter(entry('t2', 60 * S - 1))).toBe(true);
    expect(narrowed(entry('t2'))).toBe(true);
    expect(narrowed(entry('vetoed'))).toBe(false);
    // Only that key.
    expect(refused.filter('k2', accept)).toBe(accept);
  });

  it('filters by token alone when the refused token’s age is unknown', () => {
    const refused = new RefusedTokens(10);
    refused.add('k', 't1');
    const filter = refused.filter('k')!;

    expect(filter(entry('t1'))).toBe(false);
    expect(filter(entry('t0', 3_000 * S))).toBe(true);
  });

  it('keeps the first record of a token refused twice (concurrent callers of one refusal)', () => {
    const refused = new RefusedTokens(10);
    const t1 = entry('t1', 60 * S);
    refused.add('k', 't1', t1);
    // The second caller sees the withdrawn entry, which expires now.
    refused.add('k', 't1', t1.withdrawn());
    jest.advanceTimersByTime(S);

    // A later refusal sweeps expired records: t1's must not look expired.
    refused.add('k2', 'u1', entry('u1'));

    expect(refused.tokenOf('k')).toBe('t1');
    expect(refused.filter('k')!(entry('t0', 120 * S))).toBe(false);
  });

  it('keeps at most maxEntries keys, the oldest refusal going first', () => {
    const refused = new RefusedTokens(2);
    refused.add('a', 'ta', entry('ta'));
    refused.add('b', 'tb', entry('tb'));
    refused.add('c', 'tc', entry('tc'));

    expect(refused.tokenOf('a')).toBeUndefined();
    expect(refused.tokenOf('b')).toBe('tb');
    expect(refused.tokenOf('c')).toBe('tc');
  });

  it('drops a record once its token has expired (no store can serve it any more)', () => {
    const refused = new RefusedTokens(10);
    refused.add('a', 'ta', entry('ta'));
    jest.advanceTimersByTime(30 * 60 * S);
    refused.add('b', 'tb', entry('tb'));
    jest.advanceTimersByTime(30 * 60 * S - 1);
    refused.add('c', 'tc', entry('tc'));
    expect(refused.tokenOf('a')).toBe('ta');

    // ta's hour is over: the next record sweeps it away; tb's is not.
    jest.advanceTimersByTime(1);
    refused.add('d', 'td', entry('td'));

    expect(refused.tokenOf('a')).toBeUndefined();
    expect(refused.filter('a')).toBeUndefined();
    expect(['b', 'c', 'd'].map((k) => refused.tokenOf(k))).toEqual(['tb', 'tc', 'td']);
  });

  it('answers a refusal naming a revocation after the token was obtained, even within the hold-off (a new CAE event)', () => {
    const refused = new RefusedTokens(10);
    refused.add('k', 't0', entry('t0', 60 * S));
    const t1 = entry('t1');
    jest.advanceTimersByTime(2 * S);
    // Within the hold-off: held off, unless the challenge names a revocation after t1.
    expect(refused.mayRefuse('k', 't1', t1)).toBe(false);
    expect(refused.mayRefuse('k', 't1', t1, t1.obtainedAt - S)).toBe(false);
    expect(refused.mayRefuse('k', 't1', t1, Date.now() - S)).toBe(true);
    // A revocation "to come" (an API naming the future to refuse every token) is held off.
    expect(refused.mayRefuse('k', 't1', t1, Date.now() + 3_600_000)).toBe(false);
  });
});

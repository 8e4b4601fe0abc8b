import type { TokenRequest } from '../credentials/token-request';
import { toWallClock } from '../timing/clock';
import { boundedByClocks, CachedEntry } from './cached-entry';
import { afterEndpointCache, ENDPOINT_REFRESH_MARGIN_MS } from './refresh-point';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** The request of the entries below. */
const request = {
  credential: { name: 'api' },
  tenantId: 't',
  scopes: ['api://x/.default'],
  scopeKey: 'api://x/.default',
} as unknown as TokenRequest;

describe('afterEndpointCache: when to ask again for a token an endpoint handed back unchanged', () => {
  const obtainedAt = 1_700_000_000_000;
  const expiresOn = obtainedAt + 24 * HOUR;
  const skew = 2 * MIN;

  afterEach(() => jest.restoreAllMocks());

  it('once the endpoint mints (5 minutes before expiry), spread over a quarter of what is left before the token stops being served', () => {
    const halfLife = obtainedAt + 12 * HOUR;
    jest.spyOn(Math, 'random').mockReturnValue(0);
    expect(afterEndpointCache(obtainedAt, expiresOn, halfLife, skew)).toBe(
      expiresOn - ENDPOINT_REFRESH_MARGIN_MS,
    );
    jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    const latest = afterEndpointCache(obtainedAt, expiresOn, halfLife, skew);
    expect(latest).toBeLessThan(expiresOn - 5 * MIN + (3 * MIN) / 4 + 1);
    expect(latest).toBeLessThan(expiresOn - skew);
  });

  it('already past that point (the endpoint keeps its tokens longer): half of what is left, at least a second, never past the end', () => {
    const late = expiresOn - 4 * MIN;
    expect(afterEndpointCache(obtainedAt, expiresOn, late, skew)).toBe(late + MIN);
    const last = expiresOn - skew - 500;
    expect(afterEndpointCache(obtainedAt, expiresOn, last, skew)).toBe(expiresOn - skew);
  });

  it('short-lived tokens: the endpoint is expected to mint a twelfth of the lifetime before expiry', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    const end = obtainedAt + 60_000;
    expect(afterEndpointCache(obtainedAt, end, obtainedAt + 30_000, 1000)).toBe(end - 5000);
  });
});

describe('CachedEntry: the per-process delay after a stored refresh point', () => {
  it('takes at most half of what is left before the token stops being served', () => {
    const now = Date.now();
    const stored = {
      token: 't',
      tokenType: 'Bearer',
      obtainedAt: now - 23 * HOUR,
      expiresOn: now + HOUR,
      refreshOn: now + HOUR - 5 * MIN,
      scopes: request.scopes,
    };
    const entry = new CachedEntry(request, stored, 2 * MIN, 36 * MIN);
    // 3 minutes between the stored point and the end of use: 1.5 of delay, not 36.
    expect(entry.refreshAt - entry.usableUntil).toBeCloseTo(-1.5 * MIN, -2);
  });
});

describe('CachedEntry: a stored token from a writer whose clock is ahead', () => {
  it('is served no longer than its lifetime from now, and shows the expiry it really has', () => {
    // Written by a replica 60 s ahead: obtained "in a minute", a 30-second token.
    const ahead = Date.now() + MIN;
    const stored = {
      token: 't',
      tokenType: 'Bearer',
      obtainedAt: ahead,
      expiresOn: ahead + 30_000,
      refreshOn: ahead + 20_000,
      scopes: request.scopes,
    };
    const before = Date.now();
    const entry = new CachedEntry(request, boundedByClocks(stored), 0);
    const after = Date.now();

    // Taken as written, it would be served until 90 s from now: 60 s past its real end.
    expect(entry.hit.expiresOnTimestamp).toBeGreaterThanOrEqual(before + 30_000);
    expect(entry.hit.expiresOnTimestamp).toBeLessThanOrEqual(after + 30_000);
    expect(entry.hit.refreshOnTimestamp).toBeLessThanOrEqual(after + 20_000);
    expect(toWallClock(entry.usableUntil)).toBeLessThanOrEqual(after + 30_000 + 1);
    expect(toWallClock(entry.refreshAt)).toBeLessThanOrEqual(after + 20_000 + 1);
  });

  it("a JWT is bounded by its issuer's exp however long after it is read; an opaque one only while its time is ahead", () => {
    const lead = 10 * MIN;
    const overAt = (ageMin: number, jwt: boolean) => {
      const realObtained = Date.now() - ageMin * MIN;
      const realExpiry = realObtained + 60 * MIN;
      const claims = Buffer.from(JSON.stringify({ exp: realExpiry / 1000 })).toString('base64url');
      const obtainedAt = realObtained + lead;
      const stored = {
        token: jwt ? `e30.${claims}.sig` : 'opaque',
        tokenType: 'Bearer',
        obtainedAt,
        expiresOn: obtainedAt + 60 * MIN,
        refreshOn: obtainedAt + 30 * MIN,
        scopes: request.scopes,
      };
      const entry = new CachedEntry(request, boundedByClocks(stored), 0);
      return Math.round((entry.hit.expiresOnTimestamp - realExpiry) / MIN);
    };
    expect([0, 1, 9, 11, 30].map((age) => overAt(age, true))).toEqual([0, 0, 0, 0, 0]);
    // An opaque token carries no time of its issuer: read late, its writer's lead shows.
    expect([0, 11].map((age) => overAt(age, false))).toEqual([0, 10]);
  });

  it('a token of a writer behind this clock keeps its times (served less long, never longer)', () => {
    const obtainedAt = Date.now() - 10_000;
    const stored = {
      token: 't',
      tokenType: 'Bearer',
      obtainedAt,
      expiresOn: obtainedAt + 30_000,
      refreshOn: obtainedAt + 20_000,
      scopes: request.scopes,
    };
    const entry = new CachedEntry(request, boundedByClocks(stored), 0);
    expect(entry.hit.expiresOnTimestamp).toBe(obtainedAt + 30_000);
    expect(entry.obtainedAt).toBe(obtainedAt);
  });
});

// A replica that waited on another's flight and got its failure (the sealed record the lock
// holder published) treats it as its own: a caller flight cools the token down for the holder's
// Retry-After and tells it once; a background refresh follows the rule of its own failures (no
// cool-down while memory still serves the token).
import { TokenCache } from '../cache/token-cache';
import type { ClientCredentialsEvent } from '../client-credentials.events';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import {
  TokenEndpointError,
  type ClientCredentialsError,
} from '../errors/client-credentials.errors';
import { TokenMetrics } from '../observability/token-metrics';
import { DEFAULTS } from '../options/defaults';
import type { TokenPolicy } from '../options/resolved-options';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
import { TokenAcquirer } from './token-acquirer';

const HOUR = 3_600_000;
const silent = { log() {}, warn() {}, debug() {}, error() {} };

/** The module's defaults, without jitter (refresh points exactly at half a lifetime). */
const policy: TokenPolicy = {
  maxEntries: 100,
  refresh: { ...DEFAULTS.refresh, jitter: 0 },
  retry: DEFAULTS.retry,
  timeouts: DEFAULTS.timeouts,
};

/** Another replica's 429, as a waiter rebuilds it: 5 s of Retry-After left. */
const shared = () =>
  new TokenEndpointError('throttled', 'HTTP 429.', { status: 429, retryAfterMs: 5000 }, true);

async function outcome<T>(p: Promise<T>): Promise<T | ClientCredentialsError> {
  return p.catch((e: ClientCredentialsError) => e);
}

describe('a waiter given another replica’s failure', () => {
  let requests = 0;
  let runs = 0;
  /** What the shared flight does: fetch (this replica holds the lock), or the holder's failure. */
  let holder: 'us' | 'failed' = 'us';
  let cache: TokenCache;
  let acquirer: TokenAcquirer;
  let failures: ClientCredentialsEvent[];
  const credential = {
    name: 'api',
    key: 'api',
    stats: { cacheHits: 0, storeHits: 0, refreshes: 0 },
    storeKeys: (tenantId: string, scopeKey: string) => [`k|${tenantId}|${scopeKey}`],
    boundThumbprint: () => undefined,
    sourceId: (index: number) => `secret#${index}`,
    recordSuccess: () => undefined,
    fetch: async () => {
      requests++;
      const token = `token-${requests}`;
      return { issued: { token, tokenType: 'bearer', expiresOn: Date.now() + HOUR }, index: 0 };
    },
  };
  const request = (): TokenRequest => ({
    credential: credential as unknown as Credential,
    tenantId: 't1',
    scopes: ['api://x/.default'],
    scopeKey: 'api://x/.default',
  });
  const flight = {
    run: async (_name: string, _poll: unknown, fetch: () => Promise<unknown>) => {
      runs++;
      if (holder === 'failed') throw shared();
      return fetch();
    },
  } as unknown as CrossProcessFlight;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_700_000_000_000, doNotFake: ['nextTick', 'setImmediate'] });
    jest.spyOn(Math, 'random').mockReturnValue(0);
    requests = runs = 0;
    holder = 'us';
    cache = new TokenCache(undefined, 100, 120_000, 0, silent);
    const metrics = new TokenMetrics();
    failures = [];
    metrics.events.listen({ wants: (t) => t === 'failure', next: (e) => failures.push(e) });
    acquirer = new TokenAcquirer(cache, policy, silent, flight, metrics);
  });

  afterEach(() => {
    acquirer.close();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('a caller flight cools down for the holder’s Retry-After, and tells it once', async () => {
    holder = 'failed';
    const first = await outcome(acquirer.acquire(request(), false));

    expect(first).toMatchObject({ code: 'throttled' });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ coolDownUntil: new Date(Date.now() + 5000) });
    // Within the Retry-After: callers fail fast, without even looking at the lock.
    await jest.advanceTimersByTimeAsync(4999);
    expect(await outcome(acquirer.acquire(request(), false))).toMatchObject({ code: 'throttled' });
    expect(runs).toBe(1);
    // After it: the next call goes to the shared flight again, and gets the token.
    holder = 'us';
    await jest.advanceTimersByTimeAsync(1);
    expect((await acquirer.acquire(request(), false)).token).toBe('token-1');
    expect(runs).toBe(2);
    expect(requests).toBe(1);
  });

  it('a background refresh cools nothing down while memory serves the token', async () => {
    await acquirer.acquire(request(), false);
    holder = 'failed';
    expect(await outcome(acquirer.refresh(cache.entryOf(request())!))).toMatchObject({
      code: 'throttled',
    });

    expect((await acquirer.acquire(request(), true)).token).toBe('token-2');
    expect(failures).toHaveLength(0);
  });

  it('a background refresh cools the token down once memory no longer serves it', async () => {
    await acquirer.acquire(request(), false);
    const current = cache.entryOf(request())!;
    holder = 'failed';
    acquirer.forget(request(), current.token);
    expect(await outcome(acquirer.refresh(current))).toMatchObject({ code: 'throttled' });

    expect(await outcome(acquirer.acquire(request(), false))).toMatchObject({ code: 'throttled' });
    expect(runs).toBe(2);
    expect(requests).toBe(1);
  });
});

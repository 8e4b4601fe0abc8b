import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { TokenCache } from '../cache/token-cache';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import { DEFAULTS } from '../options/defaults';
import type { TokenPolicy } from '../options/resolved-options';
import { TokenAcquirer } from './token-acquirer';
import { TokenRefresher } from './token-refresher';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const silent = { log() {}, warn() {}, debug() {}, error() {} };

/**
 * A managed identity endpoint as Azure's behave: 24 h tokens, cached per resource and handed back
 * until 5 minutes before expiry; an App Service endpoint also mints for a request naming its cached
 * token (`token_sha256_to_refresh`), IMDS ignores that. msal-node's `refresh_in` for such tokens is
 * half of what is left (`expires_in / 2` past 2 h).
 */
class CachingEndpoint {
  readonly name = 'mi';
  readonly stats = { cacheHits: 0, cacheMisses: 0, storeHits: 0, refreshes: 0 };
  /** Each request: whether it minted, and the token it named. */
  readonly requests: { minted: boolean; named?: string }[] = [];
  private cached?: { token: string; expiresOn: number };

  constructor(private readonly acceptsNamedToken: boolean) {}

  storeKeys(tenantId: string, scopeKey: string): string[] {
    return [`k|${tenantId}|${scopeKey}`];
  }

  sourceId(): string {
    return 'managed-identity#0';
  }

  recordSuccess(): void {}

  async fetch(_tenant: string, _scopes: readonly string[], _claims?: string, replaces?: string) {
    const time = Date.now();
    const named = this.acceptsNamedToken && replaces === this.cached?.token;
    const minted = this.cached === undefined || this.cached.expiresOn - 5 * MIN <= time || named;
    if (minted) this.cached = { token: `token-${this.requests.length}`, expiresOn: time + DAY };
    this.requests.push({ minted, named: replaces });
    const { token, expiresOn } = this.cached!;
    const left = expiresOn - time;
    const refreshOn = left > 2 * HOUR ? time + left / 2 : undefined;
    return { issued: { token, tokenType: 'Bearer', expiresOn, refreshOn }, index: 0 };
  }
}

const policy: TokenPolicy = {
  maxEntries: 100,
  refresh: DEFAULTS.refresh,
  retry: DEFAULTS.retry,
  timeouts: DEFAULTS.timeouts,
};

/**
 * Three days of a token used every 10 minutes by each of `replicas` (sharing one store when more
 * than one), with the real cache, acquirer and refresher on fake timers: how many requests reach an
 * endpoint that caches its tokens.
 */
async function threeDays(endpoint: CachingEndpoint, replicas = 1): Promise<{ misses: number }> {
  const store = replicas > 1 ? createCache({ stores: [new Keyv()] }) : undefined;
  const request: TokenRequest = {
    credential: endpoint as unknown as Credential,
    tenantId: 'tenant',
    scopes: ['https://vault.azure.net/.default'],
    scopeKey: 'https://vault.azure.net/.default',
  };
  const fleet = Array.from({ length: replicas }, () => {
    const cache = new TokenCache(store, 100, 120_000, 0.05, silent);
    const acquirer = new TokenAcquirer(cache, policy, silent);
    return { cache, acquirer, refresher: new TokenRefresher(acquirer, cache, policy, silent) };
  });
  let misses = 0;
  try {
    for (let t = 0; t <= 3 * DAY; t += 10 * MIN) {
      for (const { cache, acquirer } of fleet) {
        if (cache.serve(cache.entryOf(request), request.scopes) === undefined) {
          misses++;
          await acquirer.acquire(request, false);
        }
      }
      await jest.advanceTimersByTimeAsync(10 * MIN);
    }
  } finally {
    for (const { refresher, acquirer } of fleet) {
      refresher.close();
      acquirer.close();
    }
  }
  return { misses };
}

describe('Refreshing the tokens of a managed identity endpoint that caches them', () => {
  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('IMDS (cannot be told which token to replace): 2 requests a day, not one per halving of what is left', async () => {
    const imds = new CachingEndpoint(false);

    const { misses } = await threeDays(imds);

    // Day after day: at half-life the same token comes back; the next request is once IMDS
    // mints (5 minutes before expiry), not at half of what is left (12, 18, 21, 22.5 h…).
    expect(misses).toBe(1);
    expect(imds.requests.map((r) => (r.minted ? 'new' : 'same'))).toEqual([
      'new',
      ...['same', 'new', 'same', 'new', 'same', 'new'],
    ]);
  });

  it('App Service (told the token to replace): every background refresh names it and gets a new one', async () => {
    const appService = new CachingEndpoint(true);

    const { misses } = await threeDays(appService);

    expect(misses).toBe(1);
    // One request per half-life (12 h), each a new token: the endpoint never answers from its cache.
    expect(appService.requests).toHaveLength(7);
    expect(appService.requests.every((r) => r.minted)).toBe(true);
    expect(appService.requests.slice(1).map((r) => r.named)).toEqual([
      'token-0',
      'token-1',
      'token-2',
      'token-3',
      'token-4',
      'token-5',
    ]);
  });

  it('App Service, after an API refused a token: the refreshes of its replacement name the replacement, not the refused token', async () => {
    const appService = new CachingEndpoint(true);
    const request: TokenRequest = {
      credential: appService as unknown as Credential,
      tenantId: 'tenant',
      scopes: ['https://vault.azure.net/.default'],
      scopeKey: 'https://vault.azure.net/.default',
    };
    const cache = new TokenCache(undefined, 100, 120_000, 0.05, silent);
    const acquirer = new TokenAcquirer(cache, policy, silent);
    const refresher = new TokenRefresher(acquirer, cache, policy, silent);
    try {
      await acquirer.acquire(request, false);
      // Refused (revoked) an hour on: replaced with a request naming it (the record of the
      // refusal lasts as long as the refused token would have).
      await jest.advanceTimersByTimeAsync(HOUR);
      expect((await acquirer.replace(request, 'token-0'))?.token).toBe('token-1');
      for (let t = 0; t <= DAY; t += 10 * MIN) {
        if (cache.serve(cache.entryOf(request), request.scopes) === undefined) {
          await acquirer.acquire(request, false);
        }
        await jest.advanceTimersByTimeAsync(10 * MIN);
      }
    } finally {
      refresher.close();
      acquirer.close();
    }

    // Each refresh (at 13 and 25 h) named the token it renews: the endpoint minted every time.
    expect(appService.requests.map((r) => r.named)).toEqual([
      undefined,
      'token-0',
      'token-1',
      'token-2',
    ]);
    expect(appService.requests.every((r) => r.minted)).toBe(true);
  });

  it('IMDS behind a shared store: the replica that got the token back unchanged stores when to ask again, and the others adopt that', async () => {
    const imds = new CachingEndpoint(false);

    const { misses } = await threeDays(imds, 3);

    // The second and third replicas read the first one's token (one request for the fleet), and at
    // their own half-life find it stored again with the later refresh point: no request of theirs.
    expect(misses).toBe(3);
    expect(imds.requests.map((r) => (r.minted ? 'new' : 'same'))).toEqual([
      'new',
      ...['same', 'new', 'same', 'new', 'same', 'new'],
    ]);
  });
});

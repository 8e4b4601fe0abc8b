import { loadDaemonConfig } from './load-config';
import { sharedCacheSummary } from './credential-options';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

const config = {
  downstreamApis: { orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://o/.default' } },
  credentials: {
    orders: { tenantId: TENANT, clientId: CLIENT, sources: [{ type: 'secret', secret: 'x' }] },
  },
  workers: { poller: { type: 'poller', intervalSeconds: 30, credential: 'orders' } },
};

/** The problems the environment's shared-cache variables stop the start with; none: []. */
function problems(env: Record<string, string>): string[] {
  try {
    loadDaemonConfig({ config, env });
    return [];
  } catch (e) {
    const message = (e as Error).message;
    expect(message).not.toContain(KEY.slice(3));
    return message.split('\n').slice(1);
  }
}

describe('the shared cache from TOKEN_CACHE_* variables', () => {
  it('refuses half a pair, an empty URL or a misspelt variable, instead of running without it', () => {
    expect(problems({ TOKEN_CACHE_KEYS: KEY })).toEqual([
      '  - TOKEN_CACHE_KEYS: is set without TOKEN_CACHE_REDIS_URL, so no replica would share its tokens: set TOKEN_CACHE_REDIS_URL to the Redis URL, e.g. redis://redis:6379 — or unset TOKEN_CACHE_KEYS to run without the shared cache',
    ]);
    const empty =
      '  - TOKEN_CACHE_REDIS_URL: is set but empty (a variable that was empty or unset, e.g. a missing key of an optional secret?): set it to the Redis URL, e.g. redis://redis:6379, with TOKEN_CACHE_KEYS — or unset both to run without the shared cache';
    expect(problems({ TOKEN_CACHE_REDIS_URL: '', TOKEN_CACHE_KEYS: KEY })).toEqual([empty]);
    expect(problems({ TOKEN_CACHE_REDIS_URL: ' ' })).toEqual([empty]);
    expect(
      problems({ TOKEN_CACHE_REDIS: 'redis://127.0.0.1:6379', TOKEN_CACHE_KEYS: KEY }),
    ).toEqual([
      '  - TOKEN_CACHE_REDIS: not a variable the daemon reads (misspelt?): the shared cache is TOKEN_CACHE_REDIS_URL and TOKEN_CACHE_KEYS — rename it, or unset it',
      '  - TOKEN_CACHE_KEYS: is set without TOKEN_CACHE_REDIS_URL, so no replica would share its tokens: set TOKEN_CACHE_REDIS_URL to the Redis URL, e.g. redis://redis:6379 — or unset TOKEN_CACHE_KEYS to run without the shared cache',
    ]);
    expect(problems({})).toEqual([]);
    expect(
      problems({ TOKEN_CACHE_REDIS_URL: 'redis://127.0.0.1:6379', TOKEN_CACHE_KEYS: KEY }),
    ).toEqual([]);
  });

  it('says at start whether it is on, and where, without the password or the keys', () => {
    const summary = (env: Record<string, string>) =>
      sharedCacheSummary(loadDaemonConfig({ config, env }).clientCredentials);
    expect(summary({})).toBe(
      'shared token cache: off (TOKEN_CACHE_REDIS_URL is not set): this process requests and caches its tokens for itself',
    );
    expect(
      summary({
        TOKEN_CACHE_REDIS_URL: 'rediss://app:P4ssw0rdXYZ@redis.internal:6380/2',
        TOKEN_CACHE_KEYS: KEY,
      }),
    ).toBe(
      'shared token cache: on, Redis at redis.internal:6380 (TLS): replicas share their tokens',
    );
    expect(
      summary({ TOKEN_CACHE_REDIS_URL: 'redis://:P4ssw0rdXYZ@10.0.0.5', TOKEN_CACHE_KEYS: KEY }),
    ).toBe('shared token cache: on, Redis at 10.0.0.5:6379: replicas share their tokens');
  });
});

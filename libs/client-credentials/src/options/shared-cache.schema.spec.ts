import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { ConfigurationError } from '../errors/client-credentials.errors';
import { resolveOptions } from './resolve-options';
import { resolveSharedCache, sharedCacheSchema } from './shared-cache.schema';

const key = randomBytes(32);
const base = () => ({
  redisUrl: 'redis://:pa55word-in-url@127.0.0.1:6379',
  encryptionKeys: [{ id: 'k1', key: key.toString('base64') }],
});

describe('resolveSharedCache', () => {
  it('treats a field given as undefined as its default', () => {
    const given = {
      ...base(),
      operationTimeoutMs: undefined,
      connectTimeoutMs: undefined,
      crossProcessLock: undefined,
      lockTtlMs: undefined,
      lockWaitMs: undefined,
      lockPollMs: undefined,
      errorLogIntervalMs: undefined,
    };
    expect(sharedCacheSchema.safeParse(given).success).toBe(true);
    expect(resolveSharedCache(given)).toMatchObject({
      operationTimeoutMs: 200,
      connectTimeoutMs: 2000,
      crossProcessLock: true,
      lockTtlMs: 3000,
      lockWaitMs: 40_000,
      lockPollMs: 50,
      errorLogIntervalMs: 30_000,
    });
  });

  it('keeps the defaults through the module options too', () => {
    const shared = resolveOptions({
      credentials: {
        api: {
          tenantId: 'contoso.onmicrosoft.com',
          clientId: 'c',
          sources: [{ type: 'secret', secret: 's' }],
        },
      },
      cache: { shared: { ...base(), operationTimeoutMs: undefined, crossProcessLock: undefined } },
    }).cache.shared;
    expect(shared).toMatchObject({ operationTimeoutMs: 200, crossProcessLock: true });
  });

  it('waits, by default, as long as a lock holder may take: acquireMs + requestMs', () => {
    expect(resolveSharedCache(base(), { acquireMs: 60_000, requestMs: 5000 }).lockWaitMs).toBe(
      65_000,
    );
    expect(
      resolveSharedCache({ ...base(), lockWaitMs: 1234 }, { acquireMs: 60_000, requestMs: 5000 })
        .lockWaitMs,
    ).toBe(1234);
  });

  it('keeps the explicit values', () => {
    const r = resolveSharedCache({ ...base(), operationTimeoutMs: 75, crossProcessLock: false });
    expect(r).toMatchObject({ operationTimeoutMs: 75, crossProcessLock: false });
  });

  it('holds the URL and keys out of reach of a property walk, yet hands them over', () => {
    const r = resolveSharedCache(base());
    const walked = [
      inspect(r, { customInspect: false, depth: Infinity, showHidden: true }),
      JSON.stringify(r),
    ].join('\n');
    expect(walked).not.toContain('pa55word');
    expect(walked).not.toContain([...key.subarray(0, 8)].join(', '));
    expect(r.secrets.redisUrl()).toBe(base().redisUrl);
    expect(r.secrets.encryptionKeys()[0].key.equals(key)).toBe(true);
  });
});

describe('cache.shared topologies, login and TLS', () => {
  const credentials = {
    api: {
      tenantId: 'contoso.onmicrosoft.com',
      clientId: 'c',
      sources: [{ type: 'secret' as const, secret: 's' }],
    },
  };
  const keys = [{ id: 'k1', key: key.toString('base64') }];
  /** The problems `resolveOptions` reports for this `cache.shared`, or [] when it passes. */
  function problems(shared: Record<string, unknown>): string[] {
    try {
      resolveOptions({
        credentials,
        cache: { shared: { encryptionKeys: keys, ...shared } },
      });
      return [];
    } catch (e) {
      return [...(e as ConfigurationError).problems];
    }
  }

  it('accepts a cluster, a sentinel set, and TLS with an ACL login and an extra CA', () => {
    expect(
      problems({ cluster: { nodes: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379'] } }),
    ).toEqual([]);
    expect(
      problems({ sentinel: { masterName: 'mymaster', nodes: ['redis://10.0.0.1:26379'] } }),
    ).toEqual([]);
    expect(
      problems({
        redisUrl: 'rediss://cache.example:6380',
        username: 'cache',
        passwordProvider: () => 'token',
        ca: '-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----\n',
      }),
    ).toEqual([]);
  });

  it.each([
    [{}, 'cache.shared: needs one of `redisUrl`'],
    [
      { redisUrl: 'redis://a:6379', cluster: { nodes: ['redis://b:6379'] } },
      'cache.shared: takes one of `redisUrl`, `cluster`, `sentinel` or `redisClient`, not `redisUrl` and `cluster`',
    ],
    [{ cluster: { nodes: [] } }, 'cache.shared.cluster.nodes: must hold at least one'],
    [
      { cluster: { nodes: ['redis://user:pa55@a:6379'] } },
      'cache.shared.cluster.nodes[0]: must not hold credentials',
    ],
    [
      { cluster: { nodes: ['redis://a:6379', 'rediss://b:6379'] } },
      'cache.shared.cluster.nodes: must use one scheme',
    ],
    [{ sentinel: { nodes: ['redis://a:26379'] } }, 'cache.shared.sentinel.masterName: is required'],
    [
      { redisUrl: 'redis://a:6379', ca: '-----BEGIN CERTIFICATE-----' },
      'cache.shared.ca: is only used over TLS',
    ],
    [{ redisUrl: 'rediss://a:6379', ca: '/etc/ssl/ca.pem' }, 'cache.shared.ca: must be PEM text'],
    [
      { redisUrl: 'redis://:pa55@a:6379', password: 'other' },
      'cache.shared.password: the `redisUrl` holds credentials already',
    ],
    [
      { redisUrl: 'redis://a:6379', password: 'p', passwordProvider: () => 'q' },
      'cache.shared.passwordProvider: takes the place of `password`',
    ],
    [
      { redisUrl: 'redis://a:6379', passwordProvider: 'p' },
      'cache.shared.passwordProvider: must be a function',
    ],
  ])('names the field: %j', (shared, message) => {
    const found = problems(shared);
    expect(found.join('\n')).toContain(message);
    expect(found.join('\n')).not.toContain('pa55');
  });

  it('holds a password and a password provider out of reach of a property walk', () => {
    const r = resolveSharedCache({
      redisUrl: 'redis://a:6379',
      password: 'pa55word-option',
      encryptionKeys: keys,
    });
    const walked = inspect(r, { customInspect: false, depth: Infinity, showHidden: true });
    expect(walked).not.toContain('pa55word-option');
    expect(r.secrets.password()).toBe('pa55word-option');
  });

  it('leaves a redisClient its own login and TLS', () => {
    const redisClient = { sendCommand: () => undefined };
    expect(problems({ redisClient, password: 'p' }).join('\n')).toContain(
      'cache.shared.password: is not used with `redisClient`',
    );
  });
});

describe('cache.keyPrefix with a shared cache', () => {
  const credentials = {
    api: {
      tenantId: '11111111-2222-3333-4444-555555555555',
      clientId: 'app',
      sources: [{ type: 'secret' as const, secret: 'not-a-secret' }],
    },
  };

  it.each(['tenant{a}:', 'x{', 'x}', '{}'])(
    'refuses %s: a brace would move the Redis Cluster hash tag (an entry and its lock in different slots)',
    (keyPrefix) => {
      try {
        resolveOptions({ credentials, cache: { keyPrefix, shared: base() } });
        throw new Error('accepted');
      } catch (e) {
        expect((e as ConfigurationError).problems).toEqual([
          "cache.keyPrefix: must not contain '{' or '}' with `shared` — Redis Cluster reads them as a hash tag, and the library tags each name itself",
        ]);
      }
    },
  );

  it('takes a brace in the prefix of an app store, and a plain prefix with a shared cache', () => {
    expect(() =>
      resolveOptions({ credentials, cache: { keyPrefix: 'svc:{eu}:', shared: undefined } }),
    ).not.toThrow();
    expect(() =>
      resolveOptions({ credentials, cache: { keyPrefix: 'svc:eu:', shared: base() } }),
    ).not.toThrow();
  });
});

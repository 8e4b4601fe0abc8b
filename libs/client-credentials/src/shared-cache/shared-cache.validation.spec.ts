import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { resolveOptions } from '../options.validation';
import { resolveSharedCache, sharedCacheSchema } from './shared-cache.validation';

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

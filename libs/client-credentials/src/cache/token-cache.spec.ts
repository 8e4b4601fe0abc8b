import { toWallClock } from '../timing/clock';
import { Logger } from '@nestjs/common';
import { createCache } from 'cache-manager';
import type { Credential } from '../credentials/credential';
import { Keyv } from 'keyv';
import { MAX_CLAIMS_TOKENS, StoredToken, TokenCache } from './token-cache';
import { TokenRequest } from '../credentials/token-request';

// The cache's view of a credential: a name, its store keys, and no certificate binding its tokens.
const credential = {
  name: 'api',
  key: 'api',
  storeKeys: (tenantId: string, scopeKey: string) => [`k|${tenantId}|${scopeKey}`],
  boundThumbprint: () => undefined,
} as unknown as Credential;

const request = (tenantId: string): TokenRequest => ({
  credential,
  tenantId,
  scopes: ['api://x/.default'],
  scopeKey: 'api://x/.default',
});

function stored(tenantId: string, now = Date.now()): StoredToken {
  return {
    v: 1,
    token: `token-of-${tenantId}`,
    tokenType: 'Bearer',
    obtainedAt: now,
    expiresOn: now + 3_600_000,
    refreshOn: now + 1_800_000,
    scopes: ['api://x/.default'],
    tenantId,
    source: 'secret#0',
  };
}

function cacheOf(maxEntries: number, jitter = 0) {
  const store = createCache({ stores: [new Keyv()] });
  return new TokenCache(store, maxEntries, 120_000, jitter, new Logger('test'));
}

describe('TokenCache', () => {
  it('keeps a token that is being hit when the memory bound evicts (second chance, not FIFO)', async () => {
    const cache = cacheOf(3);
    for (const t of ['hot', 'b', 'c']) {
      await cache.write(request(t), `k|${t}`, stored(t));
    }
    cache.entryOf(request('hot'))!.hits++; // a cache hit, as TokenService counts it

    await cache.write(request('d'), 'k|d', stored('d'));
    await cache.write(request('e'), 'k|e', stored('e'));

    expect(cache.entryOf(request('hot'))).toBeDefined();
    expect(cache.size).toBe(3);
    // The cold ones went, oldest first.
    expect(cache.entryOf(request('b'))).toBeUndefined();
    expect(cache.entryOf(request('c'))).toBeUndefined();
  });

  it("forgets one principal's tokens (an agent its directory let go), every tenant's, and no other's", async () => {
    const cache = cacheOf(10);
    const agent = { ...credential, name: 'agent', key: 'agent' } as unknown as Credential;
    for (const t of ['t1', 't2']) {
      await cache.write({ ...request(t), credential: agent }, `k|${t}`, stored(t));
    }
    await cache.write(request('t1'), 'k|t1', stored('t1'));
    const forgotten: unknown[] = [];
    cache.onForget = (entry) => forgotten.push(entry.credential);

    cache.forgetPrincipal(agent);
    expect(forgotten).toEqual([agent, agent]);
    expect(cache.size).toBe(1);
    expect(cache.entryOf({ ...request('t1'), credential: agent })).toBeUndefined();
    expect(cache.entryOf(request('t1'))).toBeDefined();
  });

  it('evicts even when every entry is hot: the bound always holds', async () => {
    const cache = cacheOf(2);
    for (const t of ['a', 'b', 'c', 'd']) {
      await cache.write(request(t), `k|${t}`, stored(t));
      for (const u of ['a', 'b', 'c', 'd']) {
        const e = cache.entryOf(request(u));
        if (e) e.hits++;
      }
      expect(cache.size).toBeLessThanOrEqual(2);
    }
  });

  it('spreads the refresh of a token read from the store (another replica’s) over the jitter', async () => {
    const now = Date.now();
    const cache = cacheOf(100, 0.05);
    const entry = stored('shared', now);
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const store = createCache({ stores: [new Keyv()] });
      await store.set('k|shared|api://x/.default', entry, 60_000);
      const reader = new TokenCache(store, 10, 120_000, 0.05, new Logger('test'));
      const read = (await reader.read(request('shared')))!;
      // The entry's times are on the library's clock; the store's on the wall clock (±1 ms).
      const refreshAt = toWallClock(read.refreshAt);
      expect(refreshAt).toBeGreaterThanOrEqual(entry.refreshOn - 1);
      expect(refreshAt).toBeLessThanOrEqual(entry.refreshOn + 0.05 * 3_600_000 + 1);
      seen.add(read.refreshAt);
    }
    expect(seen.size).toBeGreaterThan(1);
    // A token this process fetched itself keeps the refresh point it computed.
    const own = await cache.write(request('own'), 'k|own', stored('own', now));
    expect(toWallClock(own.refreshAt)).toBeCloseTo(now + 1_800_000, -1);
  });
});

describe('TokenCache claims tokens', () => {
  it('keeps at most MAX_CLAIMS_TOKENS claims tokens, the oldest going first, and never evicts a plain token for them', async () => {
    const cache = cacheOf(1000);
    await cache.write(request('plain'), 'k|plain', stored('plain'));
    for (let i = 0; i < MAX_CLAIMS_TOKENS + 50; i++) {
      const claims: TokenRequest = {
        ...request('plain'),
        scopeKey: `api://x/.default\nclaims:${i}`,
        claims: `{"n":${i}}`,
      };
      await cache.write(claims, `k|claims|${i}`, stored('plain'));
    }
    expect(cache.size).toBe(1 + MAX_CLAIMS_TOKENS);
    expect(cache.entryOf(request('plain'))).toBeDefined();
    const claimsOf = (i: number) =>
      cache.entryOf({ ...request('plain'), scopeKey: `api://x/.default\nclaims:${i}` });
    expect(claimsOf(0)).toBeUndefined();
    expect(claimsOf(49)).toBeUndefined();
    expect(claimsOf(50)).toBeDefined();
    expect(claimsOf(MAX_CLAIMS_TOKENS + 49)).toBeDefined();
  });
});

describe('TokenCache reading an app store', () => {
  it.each<[string, Partial<StoredToken>]>([
    ['an expiry no Date can hold', { expiresOn: 1e16, refreshOn: 1e16 - 1 }],
    [
      'a lifetime longer than any token endpoint gives',
      { expiresOn: Date.now() + 30 * 86_400_000 },
    ],
    ['a negative obtainedAt', { obtainedAt: -1 }],
    ['a refresh point that is not a number', { refreshOn: NaN }],
    // A store that gives values back as strings (a hash-backed one, another version's writer).
    ...(['obtainedAt', 'expiresOn', 'refreshOn'] as const).map((field): [string, object] => [
      `${field} as a string`,
      { [field]: String(stored('t1')[field]) },
    ]),
    ['an expiry of Infinity', { expiresOn: Infinity }],
    ['a scope that is not a string', { scopes: [42] as unknown as string[] }],
    ['a token with a line break', { token: 'abc\r\nx-evil: 1' }],
  ])('takes an entry with %s for a miss', async (_, bad) => {
    const store = createCache({ stores: [new Keyv()] });
    await store.set('k|t1|api://x/.default', { ...stored('t1'), ...bad }, 60_000);
    const cache = new TokenCache(store, 10, 120_000, 0, new Logger('test'));
    expect(await cache.read(request('t1'))).toBeUndefined();
  });
});

describe('TokenCache and a principal known only from its tokens (a managed identity)', () => {
  /** A system-assigned identity: no store key before its first own token, then keys naming it. */
  let subject: string | undefined;
  const identity = {
    name: 'mi',
    key: 'mi',
    get subject() {
      return subject;
    },
    storeKeys: (tenantId: string, scopeKey: string) =>
      subject === undefined ? [] : [`k|${tenantId}|${scopeKey}`],
    boundThumbprint: () => undefined,
  } as unknown as Credential;
  const miRequest: TokenRequest = { ...request('managed-identity'), credential: identity };

  it('neither reads nor writes the store while it has no store key', async () => {
    subject = undefined;
    const store = createCache({ stores: [new Keyv()] });
    const getMany = jest.spyOn(store.stores[0], 'getMany');
    const set = jest.spyOn(store, 'set');
    const cache = new TokenCache(store, 10, 120_000, 0, new Logger('test'));
    expect(await cache.read(miRequest)).toBeUndefined();
    await cache.write(miRequest, '', stored('managed-identity'));
    expect(getMany).not.toHaveBeenCalled();
    expect(set).not.toHaveBeenCalled();
    // Kept in memory all the same.
    expect(cache.entryOf(miRequest)).toBeDefined();
  });

  it('takes a stored token of another identity, under the same key, for a miss', async () => {
    subject = 'oid=b;tid=t';
    const store = createCache({ stores: [new Keyv()] });
    const key = 'k|managed-identity|api://x/.default';
    await store.set(key, { ...stored('managed-identity'), subject: 'oid=a;tid=t' }, 60_000);
    const cache = new TokenCache(store, 10, 120_000, 0, new Logger('test'));
    expect(await cache.read(miRequest)).toBeUndefined();
    await store.set(key, { ...stored('managed-identity'), subject }, 60_000);
    expect(await cache.read(miRequest)).toBeDefined();
  });
});

describe('TokenCache and a credential whose tokens are bound', () => {
  const bound = (
    binding: object | undefined,
    keys: string[],
    thumbprints: (string | undefined)[],
  ) =>
    ({
      name: 'pop',
      key: 'pop',
      binding,
      storeKeys: () => keys,
      boundThumbprint: (i: number) => thumbprints[i],
    }) as unknown as Credential;
  const readAs = async (credential: Credential, stored: StoredToken[]) => {
    const store = createCache({ stores: [new Keyv()] });
    for (const [i, value] of stored.entries()) await store.set(`k${i}`, value, 60_000);
    const getMany = jest.spyOn(store.stores[0], 'getMany');
    const cache = new TokenCache(store, 10, 120_000, 0, new Logger('test'));
    const entry = await cache.read({ ...request('t1'), credential });
    return { token: entry?.hit.token, asked: getMany.mock.calls.map((c) => c[0]) };
  };
  const mtls = { tokenType: 'mtls_pop', certificate: true };

  it('reads no key of a source whose certificate is not loaded, and the keys of the others', async () => {
    const bearer = stored('t1');
    const pop = { ...stored('t1'), tokenType: 'mtls_pop', certificateThumbprint: 'x5t-b' };
    const credential = bound(mtls, ['', 'k1'], [undefined, 'x5t-b']);
    expect(await readAs(credential, [bearer, pop])).toEqual({
      token: 'token-of-t1',
      asked: [['k1']],
    });
    expect(await readAs(bound(mtls, ['', ''], [undefined, undefined]), [bearer])).toEqual({
      token: undefined,
      asked: [],
    });
  });

  it("takes a stored token of another type or binding than the credential's for a miss", async () => {
    const value = (tokenType: string, certificateThumbprint?: string) => ({
      ...stored('t1'),
      tokenType,
      ...(certificateThumbprint === undefined ? {} : { certificateThumbprint }),
    });
    const read = async (credential: Credential, v: StoredToken) =>
      (await readAs(credential, [v])).token;
    const entra = bound(mtls, ['k0'], ['x5t-a']);
    expect(await read(entra, value('Bearer'))).toBeUndefined();
    expect(await read(entra, value('Bearer', 'x5t-a'))).toBeUndefined();
    expect(await read(entra, value('mtls_pop'))).toBeUndefined();
    expect(await read(entra, value('mtls_pop', 'x5t-b'))).toBeUndefined();
    expect(await read(entra, value('mtls_pop', 'x5t-a'))).toBeDefined();
    // RFC 8705: a Bearer token, bound by its thumbprint.
    const rfc8705 = bound({ tokenType: 'Bearer', certificate: true }, ['k0'], ['x5t-a']);
    expect(await read(rfc8705, value('Bearer'))).toBeUndefined();
    expect(await read(rfc8705, value('Bearer', 'x5t-a'))).toBeDefined();
    const dpop = bound({ tokenType: 'DPoP', certificate: false }, ['k0'], [undefined]);
    expect(await read(dpop, value('Bearer'))).toBeUndefined();
    expect(await read(dpop, value('DPoP', 'x5t-a'))).toBeUndefined();
    expect(await read(dpop, value('DPoP'))).toBeDefined();
    // A plain credential never serves a bound token as a bearer one.
    const plain = bound(undefined, ['k0'], [undefined]);
    expect(await read(plain, value('DPoP'))).toBeUndefined();
    expect(await read(plain, value('mtls_pop'))).toBeUndefined();
    expect(await read(plain, value('Bearer', 'x5t-a'))).toBeUndefined();
    expect(await read(plain, value('Bearer'))).toBeDefined();
  });
});

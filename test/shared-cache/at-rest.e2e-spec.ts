import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { createClient } from '@keyv/redis';
import { startDevAuthority } from '@app/dev-authority';
import type { TokenApp } from '../support/token-app';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/** What is in Redis is sealed: unreadable, tamper-evident, and keyed without secrets or tokens. */
describe('Shared cache: entries at rest', () => {
  let raw: ReturnType<typeof createClient>;
  const apps: TokenApp[] = [];
  const k1 = { id: 'k1', key: randomBytes(32).toString('base64') };
  const k2 = { id: 'k2', key: randomBytes(32).toString('base64') };

  beforeAll(async () => {
    raw = createClient({ url: redis.url });
    await raw.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await raw.flushAll();
  });
  afterAll(() => {
    raw?.destroy();
  });

  async function replica(reg: ReturnType<typeof register>, keys: { id: string; key: string }[]) {
    const app = await startReplica(authority, reg, { redisUrl: redis.url, encryptionKeys: keys });
    apps.push(app);
    return app;
  }

  async function onlyEntry(): Promise<{ key: string; value: string }> {
    const keys = await raw.keys('client-credentials:t:*');
    expect(keys).toHaveLength(1);
    return { key: keys[0], value: (await raw.get(keys[0]))! };
  }

  it('writes neither the token nor the ids or scopes in clear, and sets a TTL', async () => {
    const reg = register(authority);
    const token = await (await replica(reg, [k1])).tokens.getAccessToken(authority.apiScope);

    const { key, value } = await onlyEntry();
    const everything = `${key}\n${value}`;
    for (const clear of [token.token, reg.tenantId, reg.clientId, reg.secret, 'dev-api']) {
      expect(everything).not.toContain(clear);
    }
    expect(value.startsWith('e1.k1.')).toBe(true);
    const ttl = await raw.pTTL(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(token.expiresOn.getTime() - Date.now());
  });

  it('never returns a tampered entry: a miss, counted, and a fresh token instead', async () => {
    const reg = register(authority);
    const first = await (await replica(reg, [k1])).tokens.getAccessToken(authority.apiScope);
    const { key, value } = await onlyEntry();
    const parts = value.split('.');
    const ct = Buffer.from(parts[4], 'base64url');
    ct[10] ^= 0x01;
    parts[4] = ct.toString('base64url');
    await raw.set(key, parts.join('.'), { PX: await raw.pTTL(key) });

    const b = await replica(reg, [k1]);
    const token = await b.tokens.getAccessToken(authority.apiScope);

    expect(token.source).toBe('network');
    expect(token.token).not.toBe(first.token);
    // Counted on each read that met it (the miss, and the lock holder's second look).
    expect(b.tokens.getCacheStats()!.rejectedEntries).toBeGreaterThanOrEqual(1);
    expect(b.tokens.getCacheStats()!.reads).toBe(0);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
  });

  it('a huge value under a token’s name or its lock’s is refused in Redis, never transferred: a fresh token, one request', async () => {
    const reg = register(authority);
    await (await replica(reg, [k1])).tokens.getAccessToken(authority.apiScope);
    const { key } = await onlyEntry();
    // In the entry's shape, under its key id (in clear in every entry): whoever can write to
    // Redis can write it. 4 MB; Redis takes up to 512 MB.
    const huge = `e1.k1.${randomBytes(12).toString('base64url')}.${randomBytes(16).toString('base64url')}.${'A'.repeat(4 * 2 ** 20)}`;
    await raw.set(key, huge, { PX: 60_000 });
    // A lock held by a record no holder wrote, until it expires (shorter than a lock's TTL).
    await raw.set(key.replace(':t:{', ':lock:{'), `failed:${huge}`, { PX: 300 });
    const sent = async () =>
      Number(/total_net_output_bytes:(\d+)/.exec(await raw.info('stats'))![1]);

    const b = await replica(reg, [k1]);
    const before = await sent();
    const token = await b.tokens.getAccessToken(authority.apiScope);
    const again = await b.tokens.getAccessToken(authority.apiScope);

    expect(token.source).toBe('network');
    expect(again.token).toBe(token.token);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
    // Every read of the miss (the first look, each lock poll, the holder's second look) met it,
    // and none of them carried it: far less than one copy of the value left Redis.
    expect(b.tokens.getCacheStats()!.rejectedEntries).toBeGreaterThanOrEqual(1);
    expect((await sent()) - before).toBeLessThan(2 ** 20);
  });

  it('rotation: entries written under the previous first key are still read', async () => {
    const reg = register(authority);
    const first = await (await replica(reg, [k1])).tokens.getAccessToken(authority.apiScope);

    // Rotated: k2 writes, k1 still reads — the entry is found under its k1 name and served.
    const rotated = await replica(reg, [k2, k1]);
    expect((await rotated.tokens.getAccessToken(authority.apiScope)).token).toBe(first.token);
    expect(rotated.tokens.getCacheStats()).toMatchObject({ reads: 1, unknownKeyEntries: 0 });
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);

    // k1 dropped: its names are not even looked up, so this replica fetches its own…
    const b = await replica(reg, [k2]);
    const token = await b.tokens.getAccessToken(authority.apiScope);
    expect(token.source).toBe('network');
    expect(token.token).not.toBe(first.token);
    expect(b.tokens.getCacheStats()).toMatchObject({ reads: 0, unknownKeyEntries: 0 });
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
    // …and writes it under k2's name, sealed with k2; k1's entry expires on its own.
    const values = await Promise.all(
      (await raw.keys('client-credentials:t:*')).map(async (k) => (await raw.get(k))!),
    );
    expect(values.map((v) => v.slice(0, 6)).sort()).toEqual(['e1.k1.', 'e1.k2.']);
  });

  it('never returns an entry sealed under a key id it does not know', async () => {
    const reg = register(authority);
    const first = await (await replica(reg, [k1])).tokens.getAccessToken(authority.apiScope);

    // Same key bytes (so the same Redis names), another id: the entry's id `k1` is unknown here.
    const b = await replica(reg, [{ id: 'k9', key: k1.key }]);
    const token = await b.tokens.getAccessToken(authority.apiScope);
    expect(token.source).toBe('network');
    expect(token.token).not.toBe(first.token);
    // Counted on each read that met it (the miss, and the lock holder's second look).
    expect(b.tokens.getCacheStats()!.unknownKeyEntries).toBeGreaterThanOrEqual(1);
    expect(b.tokens.getCacheStats()!.reads).toBe(0);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
    expect((await onlyEntry()).value.startsWith('e1.k9.')).toBe(true);
  });

  it('names keys with an HMAC keyed by the encryption key, not a plain hash of guessable ids', async () => {
    const reg = register(authority);
    await (await replica(reg, [k1])).tokens.getAccessToken(authority.apiScope);
    const { key } = await onlyEntry();
    // What the cache key is made of: public or guessable (authority, tenant, client, scope).
    const plain = `client-credentials:${authority.url}|${reg.tenantId}|${reg.clientId}|api/secret#0|${authority.apiScope}`;
    const sha256 = createHash('sha256').update(plain).digest('base64url');
    expect(key).not.toContain(sha256);
    const hmacUnder = (k: { key: string }) =>
      createHmac(
        'sha256',
        Buffer.from(
          hkdfSync(
            'sha256',
            Buffer.from(k.key, 'base64'),
            Buffer.alloc(0),
            'client-credentials/shared-cache/key-names/v1',
            32,
          ),
        ),
      )
        .update(plain)
        .digest('base64url');
    expect(key).toBe(`client-credentials:t:{${hmacUnder(k1)}}`);

    // Another encryption key, another name for the same token.
    await raw.flushAll();
    await (await replica(reg, [k2])).tokens.getAccessToken(authority.apiScope);
    const other = (await onlyEntry()).key;
    expect(other).toBe(`client-credentials:t:{${hmacUnder(k2)}}`);
    expect(other).not.toBe(key);
  });

  it('rejects bad shared-cache options at startup, naming the field and never echoing a key', async () => {
    const reg = register(authority);
    const badKey = randomBytes(16).toString('base64');
    const attempt = startReplica(authority, reg, {
      redisUrl: 'http://localhost:6379',
      encryptionKeys: [
        { id: 'k1', key: badKey },
        { id: 'k 2', key: k2.key },
      ],
    });
    await expect(attempt).rejects.toThrow(/cache\.shared\.redisUrl: must be a redis:\/\//);
    const message = ((await attempt.catch((e: Error) => e)) as Error).message;
    expect(message).toMatch(/cache\.shared\.encryptionKeys\[0\]\.key: must be 32 bytes/);
    expect(message).toMatch(/cache\.shared\.encryptionKeys\[1\]\.id: must be 1–32 letters/);
    expect(message).not.toContain(badKey);
    expect(message).not.toContain(k2.key);
  });
});

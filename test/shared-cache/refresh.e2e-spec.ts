import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import type { TokenApp } from '../support/token-app';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { eventually, register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/** Replicas sharing a token refresh it once between them. */
describe('Shared cache: background refresh across replicas', () => {
  const apps: TokenApp[] = [];

  afterAll(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('one replica refreshes a shared token; the other adopts the new one from Redis', async () => {
    const reg = register(authority);
    authority.setAccessTokenLifetime(30, { tenantId: reg.tenantId, refreshInSeconds: 3 });
    const shared = {
      redisUrl: redis.url,
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
    };
    const refresh = { jitter: 0 };
    const [a, b] = await Promise.all([
      startReplica(authority, reg, shared, { refresh }),
      startReplica(authority, reg, shared, { refresh }),
    ]);
    apps.push(a, b);
    const first = await a.tokens.getAccessToken(authority.apiScope);
    expect((await b.tokens.getAccessToken(authority.apiScope)).token).toBe(first.token);

    // Both replicas refresh the same token at the same instant (3 s in): one request between them.
    const renewed = async (app: TokenApp) =>
      (await app.tokens.getAccessToken(authority.apiScope)).token !== first.token;
    let both = false;
    await eventually(() => {
      void Promise.all([renewed(a), renewed(b)]).then(([x, y]) => (both = x && y));
      return both;
    });

    expect(both).toBe(true);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
    // Each replica counts its refresh, the one that fetched and the one that adopted; `storeHits`
    // only callers' misses answered by Redis (b's first call).
    expect([a, b].map((x) => x.tokens.getStats())).toMatchObject([
      { refreshes: 1, storeHits: 0 },
      { refreshes: 1, storeHits: 1 },
    ]);
    const tokens = await Promise.all(
      [a, b].map((x) => x.tokens.getAccessToken(authority.apiScope)),
    );
    expect(tokens[0].token).toBe(tokens[1].token);
  }, 20_000);
});

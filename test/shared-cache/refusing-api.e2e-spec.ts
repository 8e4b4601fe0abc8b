import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import type { SharedCacheOptions } from '@app/client-credentials';
import { releaseAll, useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import type { TokenApp } from '../support/token-app';
import { register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * An API that refuses every token (a wrong audience, say) costs one replacement, not a token
 * request per call — for the fleet too: a replacement one replica fetched and another adopted
 * from Redis is a replacement for both, within the same hold-off.
 */
describe('Shared cache: an API that refuses every token', () => {
  const apps: TokenApp[] = [];
  afterAll(() => releaseAll(...apps));

  it('3 replicas, each refused its token in turn for 5 rounds: 1 replacement for the fleet', async () => {
    const reg = register(authority);
    const shared: SharedCacheOptions = {
      redisUrl: redis.url,
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
    };
    for (let i = 0; i < 3; i++) apps.push(await startReplica(authority, reg, shared));
    const scope = authority.apiScope;
    const requests = () => authority.countTokenRequests({ clientId: reg.clientId, scope });
    for (const app of apps) await app.tokens.getAccessToken(scope);
    expect(requests()).toBe(1);

    const answers: (string | undefined)[] = [];
    for (let round = 0; round < 5; round++) {
      for (const app of apps) {
        const current = await app.tokens.getAccessToken(scope);
        answers.push((await app.tokens.replaceRefusedToken(scope, current.token))?.token);
      }
    }

    // The first refusal got a new token (the other replicas adopted it); every later one is held
    // off: the callers keep the API's 401.
    expect(requests()).toBe(2);
    expect(answers.filter((a) => a !== undefined)).toHaveLength(3);
  });
});

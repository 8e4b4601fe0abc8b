import { randomBytes } from 'node:crypto';
import { startDevAuthority, type DevAuthority } from '@app/dev-authority';
import { releaseAll, startAll } from '../support/fixtures';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import type { ReplicaInput } from './replica-worker';
import { runReplicas } from './replicas';

/**
 * Several replica processes sharing one Redis: however many callers miss at once, across
 * processes, the authority sees one token request per token.
 */
describe('Shared cache: replicas in separate processes', () => {
  let authority: DevAuthority;
  let redis: RedisServer;
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];

  beforeAll(async () => {
    [authority, redis] = await startAll([startDevAuthority(), startRedisServer()]);
  });
  afterAll(async () => {
    await releaseAll(authority, redis);
  });

  function replicaInput(
    scopes: string[],
    callsPerScope: number,
  ): ReplicaInput & { clientId: string } {
    const tenant = authority.createTenant();
    const app = tenant.createApp();
    return {
      authorityUrl: authority.url,
      caPath: authority.caPath,
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      secret: app.addSecret(),
      redisUrl: redis.url,
      encryptionKeys,
      scopes,
      callsPerScope,
    };
  }

  it('4 processes × 250 concurrent cold calls for one token → exactly 1 token request', async () => {
    const input = replicaInput([authority.apiScope], 250);

    const results = await runReplicas(4, input);

    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(1);
    expect(results.map((r) => r.failed)).toEqual([0, 0, 0, 0]);
    expect(results.reduce((n, r) => n + r.calls, 0)).toBe(1000);
    expect(results.reduce((n, r) => n + r.tokenRequests, 0)).toBe(1);
    // One token for everyone: the fetcher's and the three adopted from Redis are the same.
    expect(results.every((r) => r.distinctTokens === 1)).toBe(true);

    // A replica started after the others gets its first token from Redis, without a request.
    const [late] = await runReplicas(1, { ...input, callsPerScope: 1 });
    expect(late).toMatchObject({ failed: 0, network: 0, storeHits: 1, tokenRequests: 0 });
    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(1);
  }, 60_000);

  it('across 20 keys (scopes) → 20 token requests', async () => {
    const scopes = Array.from({ length: 20 }, (_, i) => {
      const appIdUri = `api://shared-cache-${i}-${randomBytes(3).toString('hex')}`;
      authority.createResource({ appIdUri });
      return `${appIdUri}/.default`;
    });
    const input = replicaInput(scopes, 25);

    const results = await runReplicas(4, input);

    expect(results.map((r) => r.failed)).toEqual([0, 0, 0, 0]);
    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(20);
    for (const scope of scopes) {
      expect(authority.countTokenRequests({ clientId: input.clientId, scope })).toBe(1);
    }
  }, 60_000);
});

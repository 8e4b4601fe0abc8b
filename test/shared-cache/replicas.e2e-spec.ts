import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import type { ReplicaInput } from './replica-worker';
import { replicaCredential, runReplicas } from './replicas';
import { register } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * Several replica processes sharing one Redis: however many callers miss at once, across
 * processes, the authority sees one token request per token.
 */
describe('Shared cache: replicas in separate processes', () => {
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];

  function replicaInput(
    scopes: string[],
    callsPerScope: number,
  ): ReplicaInput & { clientId: string } {
    return {
      ...replicaCredential(authority, register(authority)),
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

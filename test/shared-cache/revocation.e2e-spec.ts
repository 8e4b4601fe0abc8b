import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import type { ReplicaInput } from './replica-worker';
import { replicaCredential, startDrivenReplicas, type DrivenReplicas } from './replicas';
import { register } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * A token an API refused (revoked, say), held by every replica of an app through Redis: the
 * replicas, in separate processes, replace it with one token request between them, and none of
 * them serves the refused token again.
 */
describe('Shared cache: a refused token across replicas', () => {
  let replicas: DrivenReplicas | undefined;
  let input: ReplicaInput;

  beforeAll(async () => {
    input = {
      ...replicaCredential(authority, register(authority)),
      redisUrl: redis.url,
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
      scopes: [],
      callsPerScope: 0,
    };
    replicas = await startDrivenReplicas(3, input);
  }, 30_000);
  afterAll(async () => {
    replicas?.kill();
  });

  it('3 replicas × 20 callers replace a refused token with one token request', async () => {
    const scope = authority.apiScope;
    const requests = () => authority.countTokenRequests({ clientId: input.clientId, scope });
    await replicas!.round(scope, 5);
    expect(requests()).toBe(1);

    const results = await replicas!.replace(scope, 20);

    // Every replica held the same token, and all 60 callers got the same replacement.
    const refused = results[0].refused;
    expect(results.every((r) => r.refused === refused)).toBe(true);
    const replacements = new Set(results.flatMap((r) => r.replacements));
    expect(replacements.size).toBe(1);
    const [replacement] = replacements;
    // (Compared, not printed: a failure must not dump tokens into the log.)
    expect(replacement === refused).toBe(false);
    expect(replacement.startsWith('eyJ')).toBe(true);
    // One request between the three processes; the other two adopted its token from Redis.
    expect(requests()).toBe(2);
    expect(results.map((r) => r.tokenRequests).sort()).toEqual([0, 0, 1]);
    expect(results.every((r) => r.servedAfter === replacement)).toBe(true);
  }, 30_000);
});

import { randomBytes } from 'node:crypto';
import { startDevAuthority, type DevAuthority, type ManagedIdentity } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import type { ReplicaInput } from './replica-worker';
import { replicaManagedIdentity, startDrivenReplicas, type DrivenReplicas } from './replicas';

// Two hosts — a production and a staging slot, two regions — each with its own system-assigned
// identity in its own tenant (each played by a local authority: its App Service endpoint), the
// same app configuration, one Redis and one set of encryption keys.
const [hostA, hostB, redis] = useFixtures(startDevAuthority, startDevAuthority, startRedisServer);

/**
 * A system-assigned managed identity is the host's, not the configuration's: nothing in the
 * configuration tells two hosts' identities apart, so each replica learns its identity from its own
 * first token and only then uses the shared cache, under keys naming that identity. Each host gets
 * tokens of its own identity and tenant; the replicas of one host share every token after their
 * first.
 */
describe('Shared cache: system-assigned managed identities of two hosts', () => {
  const replicas: DrivenReplicas[] = [];
  afterAll(() => {
    for (const r of replicas) r.kill();
  });

  /** A resource known to both hosts' authorities, as `<app id URI>/.default`. */
  function newScope(): string {
    const appIdUri = `api://mi-hosts-${randomBytes(4).toString('hex')}`;
    for (const host of [hostA, hostB]) host.createResource({ appIdUri });
    return `${appIdUri}/.default`;
  }

  const requests = (host: DevAuthority, mi: ManagedIdentity, scope: string) =>
    host.countTokenRequests({ target: 'managed-identity', clientId: mi.clientId, scope });

  it('each host gets its own identity’s tokens; replicas of one host share them after their first', async () => {
    const miA = hostA.createManagedIdentity({
      tenantId: hostA.createTenant().tenantId,
      kind: 'system',
    });
    const miB = hostB.createManagedIdentity({
      tenantId: hostB.createTenant().tenantId,
      kind: 'system',
    });
    const shared: Omit<ReplicaInput, keyof ReturnType<typeof replicaManagedIdentity>> = {
      redisUrl: redis.url,
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
      scopes: [],
      callsPerScope: 0,
    };
    const [a, b] = await Promise.all([
      startDrivenReplicas(3, { ...replicaManagedIdentity(hostA), ...shared }),
      startDrivenReplicas(1, { ...replicaManagedIdentity(hostB), ...shared }),
    ]);
    replicas.push(a, b);
    const identityA = `${miA.objectId}@${miA.tenantId}`;
    const identityB = `${miB.objectId}@${miB.tenantId}`;

    // Host A's replicas, then host B's (same configuration and Redis, after A stored its
    // tokens): each host's own identity's tokens, from its own endpoint, in its own tenant.
    const [first, second] = [newScope(), newScope()];
    for (const scope of [first, second]) {
      for (const r of await a.round(scope, 3)) {
        expect(r).toMatchObject({ failed: 0, identities: [identityA], tenantOf: miA.tenantId });
      }
    }
    for (const scope of [first, second]) {
      const [r] = await b.round(scope, 3);
      expect(r).toMatchObject({ failed: 0, identities: [identityB], tenantOf: miB.tenantId });
      expect(requests(hostB, miB, scope)).toBe(1);
    }
    // Until a replica has a token of its own it cannot know which identity it is, so each of A's
    // asked its endpoint once; from then on one request served all three.
    expect(requests(hostA, miA, first)).toBe(3);
    expect(requests(hostA, miA, second)).toBe(1);

    // The other way round: B stores a token first, A (which knows its identity by now) does not
    // adopt it, and every token A serves — this one and the earlier ones — is still A's.
    const third = newScope();
    const [byB] = await b.round(third, 3);
    expect(byB).toMatchObject({ failed: 0, identities: [identityB] });
    for (const r of await a.round(third, 3)) {
      expect(r).toMatchObject({ failed: 0, identities: [identityA], tenantOf: miA.tenantId });
    }
    expect(requests(hostA, miA, third)).toBe(1);
    expect(requests(hostB, miB, third)).toBe(1);
  }, 60_000);
});

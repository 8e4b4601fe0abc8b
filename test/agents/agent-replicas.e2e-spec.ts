import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { releaseAll, useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * One agent identity, many replicas sharing one Redis (each a Nest app with its own memory and
 * its own Redis connections, in this process): both legs of the agent's token — the blueprint's
 * token exchange token (T1) and the agent's own — go through the cross-replica single flight, so
 * the authority sees one request per leg in all.
 */
describe('Agent identities across replicas', () => {
  const replicas: TokenApp[] = [];
  afterAll(() => releaseAll(...replicas));

  it('4 replicas × 250 concurrent cold calls for one agent → 1 T1 request and 1 agent request', async () => {
    const tenant = authority.createTenant();
    const blueprint = tenant.createAgentBlueprint();
    const secret = blueprint.addSecret();
    const agent = blueprint.createAgentIdentity();
    const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];
    for (let i = 0; i < 4; i++) {
      replicas.push(
        await startTokenApp({
          credentials: {
            fleet: {
              ...localCredential(authority, tenant.tenantId, blueprint.clientId, [
                { type: 'secret', secret },
              ]),
              agentBlueprint: true,
            },
          },
          // A long lock and generous deadlines: this counts single flight across replicas, and
          // four replicas in one loaded process may stall longer than the default lock lives.
          cache: { shared: { redisUrl: redis.url, encryptionKeys, lockTtlMs: 15_000 } },
          timeouts: { requestMs: 60_000, acquireMs: 120_000 },
        }),
      );
    }

    const answers = await Promise.all(
      replicas.flatMap(({ tokens }) =>
        Array.from({ length: 250 }, () =>
          tokens.getAccessToken(authority.apiScope, { agent: agent.clientId }),
        ),
      ),
    );

    expect(answers).toHaveLength(1000);
    expect(new Set(answers.map((t) => t.token)).size).toBe(1);
    const t1 = authority.countTokenRequests({
      clientId: blueprint.clientId,
      scope: 'api://AzureADTokenExchange/.default',
    });
    expect(t1).toBe(1);
    expect(authority.countTokenRequests({ clientId: agent.clientId })).toBe(1);
    expect(authority.countTokenRequests({ tenantId: tenant.tenantId })).toBe(2);
    // Three replicas got the agent's token from Redis, not from the authority.
    expect(replicas.map((r) => r.tokens.getStats().tokenRequests).sort()).toEqual([0, 0, 0, 2]);
  }, 60_000);
});

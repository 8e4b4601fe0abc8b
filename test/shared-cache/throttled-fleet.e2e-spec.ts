import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import type { ClientCredentialsEvent } from '@app/client-credentials';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import type { TokenApp } from '../support/token-app';
import { register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * An authority that throttles (429 Retry-After) gets one request from the fleet per Retry-After
 * window: the replicas that waited on the holder's request read its failure record and cool the
 * token down as the holder does, for the rest of its Retry-After — not only for the record's short
 * life (at most lockTtlMs), after which each of them would ask again.
 */
describe('Shared cache: a throttled fleet', () => {
  const apps: TokenApp[] = [];
  afterEach(async () => {
    authority.faults.clear();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('429 Retry-After 10 s: 3 replicas, asked again after the failure record expired → 1 request', async () => {
    const reg = register(authority);
    const shared = {
      redisUrl: redis.url,
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
      // The failure record lives at most this long.
      lockTtlMs: 1000,
    };
    const failures: ClientCredentialsEvent[][] = [];
    for (let i = 0; i < 3; i++) {
      const app = await startReplica(authority, reg, shared, { retry: { maxAttempts: 1 } });
      const seen: ClientCredentialsEvent[] = [];
      app.tokens.events.subscribe((e) => e.type === 'failure' && seen.push(e));
      apps.push(app);
      failures.push(seen);
    }
    authority.faults.add({ kind: 'throttle', retryAfterSeconds: 10, tenantId: reg.tenantId });
    const round = () =>
      Promise.all(
        apps.map((a) => a.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e)),
      );

    // One replica asks; the others wait on its lock and read its failure.
    expect(await round()).toMatchObject([1, 2, 3].map(() => ({ code: 'throttled' })));
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
    expect(apps.map((a) => a.tokens.getCacheStats()?.lockWaitFailures).sort()).toEqual([0, 1, 1]);
    // Past the record's life, well within the Retry-After: every replica still cools down.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await round()).toMatchObject([1, 2, 3].map(() => ({ code: 'throttled' })));
    expect(await round()).toMatchObject([1, 2, 3].map(() => ({ code: 'throttled' })));

    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
    // Each replica told its callers once, with the end of its cool-down.
    expect(failures.map((f) => f.length)).toEqual([1, 1, 1]);
    for (const [e] of failures) expect(e).toHaveProperty('coolDownUntil');
  }, 30_000);
});

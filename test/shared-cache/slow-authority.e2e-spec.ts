import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import type { ReplicaInput, ReplicaResult } from './replica-worker';
import { replicaCredential, runReplicas } from './replicas';
import { register } from './shared-app';

const sum = (results: ReplicaResult[], count: (r: ReplicaResult) => number | undefined) =>
  results.reduce((n, r) => n + (count(r) ?? 0), 0);

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * Replica processes sharing one Redis while the authority is slow or failing: still one token
 * request between them (a holder slower than its lock keeps it; waiters wait as long as a holder
 * may take), and a holder's failure reaches the waiters instead of each one retrying in turn.
 */
describe('Shared cache: a slow or failing authority, replicas in separate processes', () => {
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];

  afterEach(() => authority.faults.clear());

  function replicaInput(
    sharedOptions: ReplicaInput['sharedOptions'] = {},
    secret?: string,
  ): ReplicaInput & { clientId: string } {
    const credential = replicaCredential(authority, register(authority));
    return {
      ...credential,
      secret: secret ?? credential.secret,
      redisUrl: redis.url,
      encryptionKeys,
      sharedOptions,
      scopes: [authority.apiScope],
      callsPerScope: 20,
    };
  }

  it('4.5 s token endpoint, 3 cold processes, default options → exactly 1 token request', async () => {
    const input = replicaInput();
    // Longer than the default lock TTL (3 s): the holder extends its lock.
    authority.faults.add({ kind: 'latency', latencyMs: 4500, tenantId: input.tenantId });

    const results = await runReplicas(3, input);

    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(1);
    expect(results.map((r) => r.failed)).toEqual([0, 0, 0]);
    expect(sum(results, (r) => r.tokenRequests)).toBe(1);
    expect(results.every((r) => r.distinctTokens === 1)).toBe(true);
    // Two replicas waited the whole 4.5 s for the holder's token, and adopted it.
    expect(sum(results, (r) => r.cacheStats?.lockWaits)).toBe(2);
    expect(sum(results, (r) => r.cacheStats?.lockWaitHits)).toBe(2);
    expect(sum(results, (r) => r.cacheStats?.lockWaitTimeouts)).toBe(0);
  }, 90_000);

  it('a holder slower than its lock TTL extends the lock: still exactly 1 token request', async () => {
    // 4.5 s of latency against a 1.5 s lock: without extension it would expire three times over.
    const input = replicaInput({ lockTtlMs: 1500 });
    authority.faults.add({ kind: 'latency', latencyMs: 4500, tenantId: input.tenantId });

    const results = await runReplicas(3, input);

    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(1);
    expect(results.map((r) => r.failed)).toEqual([0, 0, 0]);
    expect(sum(results, (r) => r.cacheStats?.lockAcquired)).toBe(1);
    expect(sum(results, (r) => r.cacheStats?.lockExtensions)).toBeGreaterThanOrEqual(3);
    expect(sum(results, (r) => r.cacheStats?.lockWaitHits)).toBe(2);
  }, 90_000);

  it('the holder request is refused (unknown resource): the waiters throw its error, 1 request in all', async () => {
    const input = { ...replicaInput(), scopes: ['api://no-such-resource/.default'] };
    // Slow enough that the other replicas are surely waiting on the lock when the answer comes.
    authority.faults.add({ kind: 'latency', latencyMs: 3000, tenantId: input.tenantId });

    const results = await runReplicas(3, input);

    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(1);
    expect(results.map((r) => r.failed)).toEqual([20, 20, 20]);
    for (const r of results) {
      expect(r.errorCodes).toEqual(['TokenRequestRejectedError:request_rejected']);
    }
    // The two waiters learnt the failure from the lock: neither asked the authority.
    expect(sum(results, (r) => r.cacheStats?.lockWaitFailures)).toBe(2);
    const shared = results.filter((r) => r.tokenRequests === 0);
    expect(shared).toHaveLength(2);
    for (const r of shared) {
      expect(r.errors[0]).toMatch(/AADSTS500011/);
      expect(r.errors[0]).toMatch(/shared through the token lock/);
    }
  }, 90_000);

  it('a refusal of the holder own credential is not shared: each replica asks with its own', async () => {
    // During a rolling secret rotation another replica's secret may be the good one.
    const input = replicaInput({}, 'not-the-secret');
    authority.faults.add({ kind: 'latency', latencyMs: 1000, tenantId: input.tenantId });

    const results = await runReplicas(3, input);

    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(3);
    expect(results.map((r) => r.tokenRequests)).toEqual([1, 1, 1]);
    for (const r of results) {
      expect(r.errorCodes).toEqual(['TokenRequestRejectedError:credential_rejected']);
      expect(r.errors[0]).not.toContain('not-the-secret');
    }
    expect(sum(results, (r) => r.cacheStats?.lockWaitFailures)).toBe(0);
  }, 90_000);

  it('the holder gets 503 on every attempt: it retries, the waiters throw its error, no more requests', async () => {
    const input = replicaInput();
    authority.faults.add({ kind: 'latency', latencyMs: 1000, tenantId: input.tenantId });
    authority.faults.add({ kind: 'status', status: 503, tenantId: input.tenantId });

    const results = await runReplicas(3, input);

    // The holder's maxAttempts (3), and not one request from the two waiters.
    expect(authority.countTokenRequests({ clientId: input.clientId })).toBe(3);
    expect(results.map((r) => r.failed)).toEqual([20, 20, 20]);
    for (const r of results) {
      expect(r.errorCodes).toEqual(['TokenEndpointError:endpoint_unavailable']);
    }
    expect(sum(results, (r) => r.cacheStats?.lockWaitFailures)).toBe(2);
    expect(results.filter((r) => r.tokenRequests === 0)).toHaveLength(2);
  }, 90_000);
});

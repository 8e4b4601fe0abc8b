import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisSentinel } from '../support/redis-topologies';
import type { ReplicaInput } from './replica-worker';
import { replicaCredential, startDrivenReplicas, type DrivenReplicas } from './replicas';
import { register } from './shared-app';

const [authority, sentinel] = useFixtures(startDevAuthority, startRedisSentinel);

/**
 * The shared cache on a master and its replica watched by 3 sentinels; 3 replicas of the app in
 * separate processes, driven round by round. Killing the master under load fails no call, and once
 * the sentinels promoted the replica the processes share tokens through it, without a restart.
 */
describe('Shared cache: Redis Sentinel (master, replica, 3 sentinels)', () => {
  let replicas: DrivenReplicas | undefined;
  let clientId: string;

  beforeAll(async () => {
    const input: ReplicaInput = {
      ...replicaCredential(authority, register(authority)),
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
      sharedOptions: {
        sentinel: { masterName: sentinel.masterName, nodes: sentinel.sentinelUrls },
      },
      scopes: [],
      callsPerScope: 0,
    };
    clientId = input.clientId;
    replicas = await startDrivenReplicas(3, input);
  }, 30_000);
  afterAll(async () => {
    replicas?.kill();
  });

  it('master killed under load: 0 failed calls, failover followed, the cache shared again', async () => {
    const scopes = Array.from({ length: 80 }, (_, i) => {
      const appIdUri = `api://sentinel-${i}-${randomBytes(3).toString('hex')}`;
      authority.createResource({ appIdUri });
      return `${appIdUri}/.default`;
    });
    const requests = (scope: string) => authority.countTokenRequests({ clientId, scope });
    let next = 0;
    let failed = 0;
    const errors: string[] = [];
    const round = async () => {
      for (const r of await replicas!.round(scopes[next++], 50)) {
        failed += r.failed;
        errors.push(...r.errors);
      }
    };

    // Before: shared through the first master.
    const before = scopes.slice(0, 3);
    for (let i = 0; i < before.length; i++) await round();
    expect(before.map(requests)).toEqual([1, 1, 1]);
    expect(await sentinel.currentMasterPort()).toBe(sentinel.master.port);

    // During: rounds keep running while the sentinels notice the death and promote the replica.
    let failoverDone = false;
    const failover = sentinel.killMaster().then(() => (failoverDone = true));
    while (!failoverDone && next < 60) await round();
    await failover;
    expect(next).toBeGreaterThan(before.length + 1);
    expect(await sentinel.currentMasterPort()).toBe(sentinel.replica.port);

    // After: the processes find the new master by themselves (the sentinels announce it) and
    // share tokens through it again. Until they have, each fetches for itself: wait for a round
    // with a single request, then every later new token costs exactly one.
    let shared = false;
    for (let i = 0; i < 10 && !shared; i++) {
      const scope = scopes[next];
      await round();
      shared = requests(scope) === 1;
      if (!shared) await new Promise((r) => setTimeout(r, 500));
    }
    expect(shared).toBe(true);
    const after = scopes.slice(next, next + 5);
    for (let i = 0; i < after.length; i++) await round();
    expect(after.map(requests)).toEqual([1, 1, 1, 1, 1]);
    expect({ failed, errors }).toEqual({ failed: 0, errors: [] });

    const totals = await replicas!.end();
    replicas = undefined;
    expect(totals.map((t) => t.failed)).toEqual([0, 0, 0]);
    // What the new master holds came from the processes that started before the failover.
    expect(totals.every((t) => (t.cacheStats?.writes ?? 0) + (t.cacheStats?.reads ?? 0) > 0)).toBe(
      true,
    );
  }, 30_000);
});

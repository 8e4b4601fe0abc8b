import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisSentinel } from '../support/redis-topologies';
import type { ReplicaInput } from './replica-worker';
import { refreshThroughFailover, expectFailoverWithoutDuplicates } from './failover-window';
import { replicaCredential, startDrivenReplicas, type DrivenReplicas } from './replicas';
import { register } from './shared-app';

const [authority, sentinel] = useFixtures(startDevAuthority, startRedisSentinel);

/**
 * The shared cache on a master and its replica watched by 3 sentinels; 4 replicas of the app in
 * separate processes, driven round by round. Killing the master under load fails no call; the
 * refreshes due meanwhile wait for the new master, which each process reaches as soon as the
 * sentinels announce it, and the tokens are shared through it again, without a restart.
 */
describe('Shared cache: Redis Sentinel (master, replica, 3 sentinels)', () => {
  let replicas: DrivenReplicas | undefined;
  let input: ReplicaInput;

  beforeAll(async () => {
    input = {
      ...replicaCredential(authority, register(authority)),
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
      sharedOptions: {
        sentinel: { masterName: sentinel.masterName, nodes: sentinel.sentinelUrls },
      },
      scopes: [],
      callsPerScope: 0,
      // The failover test's tokens live 20 s: a refresh waits for another replica's token until
      // `requestMs` before the end of use, 2 s here rather than 10.
      timeouts: { requestMs: 2000 },
    };
    replicas = await startDrivenReplicas(4, input);
  }, 30_000);
  afterAll(async () => {
    replicas?.kill();
  });

  it('master killed while the tokens come due for refresh, under load: 0 failed calls, the switch followed as announced, at most 1 extra request per token, the cache shared again', async () => {
    const requests = (scope: string) =>
      authority.countTokenRequests({ clientId: input.clientId, scope });
    expect(await sentinel.currentMasterPort()).toBe(sentinel.master.port);

    const window = await refreshThroughFailover(
      authority,
      replicas!,
      input,
      () => sentinel.killMaster(),
      12,
    );
    expect(await sentinel.currentMasterPort()).toBe(sentinel.replica.port);

    expectFailoverWithoutDuplicates(window);
    // Each process moved to the new master when the sentinels announced it.
    expect(window.masterSwitches).toBe(4);

    // After: one request per new token again, through the new master.
    const after = Array.from({ length: 5 }, (_, i) => {
      const appIdUri = `api://sentinel-after-${i}-${randomBytes(3).toString('hex')}`;
      authority.createResource({ appIdUri });
      return `${appIdUri}/.default`;
    });
    for (const scope of after) await replicas!.round(scope, 50);
    expect(after.map(requests)).toEqual([1, 1, 1, 1, 1]);

    const totals = await replicas!.end();
    replicas = undefined;
    expect(totals.map((t) => t.failed)).toEqual([0, 0, 0, 0]);
  }, 60_000);
});

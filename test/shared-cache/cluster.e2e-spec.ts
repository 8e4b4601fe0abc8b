import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { ConfigurationError } from '@app/client-credentials';
import { useFixtures } from '../support/fixtures';
import { adminCommand, startRedisCluster } from '../support/redis-topologies';
import type { ReplicaInput } from './replica-worker';
import {
  replicaCredential,
  runReplicas,
  startDrivenReplicas,
  type DrivenReplicas,
} from './replicas';
import { refreshThroughFailover, expectFailoverWithoutDuplicates } from './failover-window';
import { CACHE_RULES, CLUSTER_RULES } from './acl-rules';
import { eventually, register, startReplica } from './shared-app';

const [authority, cluster] = useFixtures(startDevAuthority, startRedisCluster);

/**
 * The shared cache on a Redis Cluster of 3 masters, each with a replica; 4 replicas of the app in
 * separate processes, started once for the file and driven round by round. Every key of a token
 * sits in one slot, the client follows the slot map, and a master's failover costs no caller
 * anything. Each test uses fresh scopes, so token requests are counted per scope.
 */
describe('Shared cache: Redis Cluster (3 masters + 3 replicas)', () => {
  let replicas: DrivenReplicas | undefined;
  let input: ReplicaInput;

  beforeAll(async () => {
    input = {
      ...replicaCredential(authority, register(authority)),
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
      sharedOptions: { cluster: { nodes: cluster.urls } },
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

  function newScopes(n: number, tag: string): string[] {
    return Array.from({ length: n }, (_, i) => {
      const appIdUri = `api://cluster-${tag}-${i}-${randomBytes(3).toString('hex')}`;
      authority.createResource({ appIdUri });
      return `${appIdUri}/.default`;
    });
  }

  const requests = (scope: string) =>
    authority.countTokenRequests({ clientId: input.clientId, scope });

  /** Token entries (`…t:{…}`) held by each live master. */
  async function entriesPerMaster(): Promise<number[]> {
    const live = cluster.masters.filter((m) => m.running);
    return Promise.all(
      live.map(async (m) => {
        const keys = await adminCommand(m.url, ['KEYS', 'client-credentials:t:*']);
        return keys === '' ? 0 : keys.split(',').length;
      }),
    );
  }

  it('4 processes × 250 cold callers for one token → 1 token request', async () => {
    const [scope] = newScopes(1, 'one');

    const results = await replicas!.round(scope, 250);

    expect(results.map((r) => r.failed)).toEqual([0, 0, 0, 0]);
    expect(results.reduce((n, r) => n + r.calls, 0)).toBe(1000);
    expect(requests(scope)).toBe(1);
  });

  it('20 scopes, whose entries spread over the masters → 20 token requests', async () => {
    const before = (await entriesPerMaster()).reduce((a, b) => a + b, 0);
    const scopes = newScopes(20, 'spread');

    const results = await Promise.all(scopes.map((s) => replicas!.round(s, 25)));

    expect(results.flat().reduce((n, r) => n + r.failed, 0)).toBe(0);
    expect(scopes.map(requests)).toEqual(scopes.map(() => 1));
    // Each entry went to the master of its own slot: 20 new entries, on more than one master.
    const after = await entriesPerMaster();
    expect(after.reduce((a, b) => a + b, 0) - before).toBe(20);
    expect(after.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  it("an ACL user: the cluster's line of the docs shares tokens; the single Redis's line fails startup quoting the refused command, not blaming the password", async () => {
    const password = randomBytes(12).toString('hex');
    // ACLs are per node, not replicated: every node gets the users.
    for (const url of cluster.urls) {
      await adminCommand(url, [
        'ACL',
        'SETUSER',
        'acl-cluster',
        'on',
        `>${password}`,
        ...CLUSTER_RULES,
      ]);
      await adminCommand(url, [
        'ACL',
        'SETUSER',
        'acl-single',
        'on',
        `>${password}`,
        ...CACHE_RULES,
      ]);
    }
    const reg = register(authority);
    const shared = (username: string) => ({
      cluster: { nodes: cluster.urls },
      username,
      password,
      encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
    });

    const app = await startReplica(authority, reg, shared('acl-cluster'));
    try {
      await app.tokens.getAccessToken(authority.apiScope);
      // The token's write finishes after the caller got it.
      expect(await eventually(() => app.tokens.getCacheStats()?.writes === 1)).toBe(true);
      expect(app.tokens.getCacheStats()).toMatchObject({ connected: true, writes: 1, errors: 0 });
    } finally {
      await app.close();
    }

    const failure = await startReplica(authority, reg, shared('acl-single')).then(
      async (started) => {
        await started.close();
        return new Error('started');
      },
      (e: unknown) => e as Error,
    );
    expect(failure).toBeInstanceOf(ConfigurationError);
    expect(failure.message).toContain("the command 'cluster|slots'");
    expect(failure.message).not.toContain('refused the login');
    expect(failure.message).not.toContain(password);
  });

  it('a master frozen (its connections open, never answering): once its replica is promoted, new tokens of its shard are shared again — 1 request each, held by the promoted replica', async () => {
    // The master of slot 0: the first of node-redis's masters, the node a re-read used to ask.
    const frozen = cluster.masters[0];
    const promoted = cluster.nodes[cluster.masters.length];
    const entriesOfPromoted = async () => {
      const keys = await adminCommand(promoted.url, ['KEYS', 'client-credentials:t:*']);
      return keys === '' ? 0 : keys.split(',').length;
    };
    await cluster.freezeMaster(frozen);
    try {
      // The first commands of that shard after the promotion still go to the frozen node and
      // time out: that is what has the slot map re-read. A round of fresh tokens, then, until one
      // is shared by all 4 processes with some of its tokens on the promoted replica (a round
      // might put none there): at most 3.
      let rounds = 0;
      let shared = false;
      while (!shared && rounds < 3) {
        rounds++;
        const before = await entriesOfPromoted();
        const scopes = newScopes(9, `frozen-${rounds}`);
        const results = await Promise.all(scopes.map((s) => replicas!.round(s, 25)));
        expect(results.flat().reduce((n, r) => n + r.failed, 0)).toBe(0);
        shared = scopes.every((s) => requests(s) === 1) && (await entriesOfPromoted()) > before;
      }

      expect(shared).toBe(true);
    } finally {
      frozen.thaw();
    }
  }, 30_000);

  it('a master killed while the tokens it holds come due for refresh, under load: 0 failed calls, at most 1 extra request per token, and the processes share tokens again', async () => {
    const window = await refreshThroughFailover(
      authority,
      replicas!,
      input,
      // masters[0] was frozen and failed over above: another shard's master.
      () => cluster.killMaster(cluster.masters[1]),
      12,
    );

    expectFailoverWithoutDuplicates(window);

    // After: one request per new token again, on every shard (the promoted replica's included).
    const after = newScopes(6, 'after');
    for (const scope of after) await replicas!.round(scope, 25);
    expect(after.map(requests)).toEqual(after.map(() => 1));
    const totals = await replicas!.end();
    replicas = undefined;
    expect(totals.map((t) => t.failed)).toEqual([0, 0, 0, 0]);

    // A fresh process finds every token written after the failover in the cluster.
    const [late] = await runReplicas(1, { ...input, scopes: after, callsPerScope: 1 });
    expect(late).toMatchObject({ failed: 0, network: 0, storeHits: after.length });
  }, 60_000);
});

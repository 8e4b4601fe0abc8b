/**
 * The shared (Redis) token cache, side by side with the per-process cache:
 *   node -r @swc-node/register bench/shared-cache.ts
 * - cold start: 4 replica processes × 250 concurrent calls for one token, and 4 × 20 scopes × 25;
 *   token requests counted by the local authority;
 * - a fresh process's first call per token: an L2 (Redis) hit vs a token request (µs/call, mean
 *   over 200 tokens, sequential); and the memory hit after it.
 * - the same on a Redis Cluster (3 masters + 3 replicas): cold-start requests, and the L2 hit from
 *   a fresh process next to the single-node one.
 * Needs `redis-server` on the PATH; everything runs on loopback.
 */
import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '../libs/dev-authority/src';
import { startRedisServer } from '../test/support/redis-server';
import { startRedisCluster } from '../test/support/redis-topologies';
import type { ReplicaInput } from '../test/shared-cache/replica-worker';
import { runReplicas } from '../test/shared-cache/replicas';

const PROCESSES = 4;
const SEQUENTIAL_TOKENS = 200;

async function main(): Promise<void> {
  const [authority, redis, cluster] = await Promise.all([
    startDevAuthority(),
    startRedisServer(),
    startRedisCluster(),
  ]);
  try {
    const encryptionKeys = [{ id: 'bench', key: randomBytes(32).toString('base64') }];
    type Target = 'none' | 'single' | 'cluster';
    const input = (scopes: string[], callsPerScope: number, target: Target | boolean) => {
      const where: Target = target === true ? 'single' : target === false ? 'none' : target;
      const tenant = authority.createTenant();
      const app = tenant.createApp();
      const i: ReplicaInput = {
        authorityUrl: authority.url,
        caPath: authority.caPath,
        tenantId: tenant.tenantId,
        clientId: app.clientId,
        secret: app.addSecret(),
        redisUrl: where === 'single' ? redis.url : undefined,
        sharedOptions: where === 'cluster' ? { cluster: { nodes: cluster.urls } } : undefined,
        encryptionKeys: where === 'none' ? undefined : encryptionKeys,
        scopes,
        callsPerScope,
      };
      return i;
    };
    const scopes = (n: number, tag: string) =>
      Array.from({ length: n }, (_, k) => {
        const appIdUri = `api://bench-${tag}-${k}`;
        authority.createResource({ appIdUri });
        return `${appIdUri}/.default`;
      });

    const rows: string[][] = [];
    const cold = async (label: string, s: string[], calls: number) => {
      const counts: number[] = [];
      for (const shared of ['none', 'single', 'cluster'] as const) {
        const i = input(s, calls, shared);
        const results = await runReplicas(PROCESSES, i);
        const failed = results.reduce((n, r) => n + r.failed, 0);
        if (failed > 0) throw new Error(`${failed} failed calls: ${results[0].errors[0]}`);
        counts.push(authority.countTokenRequests({ clientId: i.clientId }));
      }
      rows.push([label, String(counts[0]), String(counts[1]), String(counts[2])]);
    };
    await cold(`${PROCESSES} processes × 250 cold calls, 1 token`, [authority.apiScope], 250);
    await cold(`${PROCESSES} processes × 20 tokens × 25 cold calls`, scopes(20, 'cold'), 25);

    // A fresh process, each call the first for its token: from Redis, or from the authority.
    const many = scopes(SEQUENTIAL_TOKENS, 'seq');
    const warm = input(many, 1, true);
    await runReplicas(1, warm);
    const [l2] = await runReplicas(1, { ...warm, sequential: true });
    const [network] = await runReplicas(1, { ...input(many, 1, false), sequential: true });
    if (l2.network !== 0 || l2.cache !== SEQUENTIAL_TOKENS) throw new Error('not all L2 hits');
    const onCluster = input(many, 1, 'cluster');
    await runReplicas(1, onCluster);
    const [l2Cluster] = await runReplicas(1, { ...onCluster, sequential: true });
    if (l2Cluster.network !== 0) throw new Error('not all cluster L2 hits');

    console.log('\nToken requests at the authority, cold start (fewer is better)');
    console.table(
      rows.map(([what, local, shared, onCluster]) => ({
        scenario: what,
        'per-process cache': Number(local),
        'shared cache (Redis)': Number(shared),
        'shared cache (Redis Cluster 3+3)': Number(onCluster),
      })),
    );
    console.log(
      `\nFirst call per token in a fresh process (mean of ${SEQUENTIAL_TOKENS}, µs/call)`,
    );
    console.table([
      { path: 'L2 hit (Redis, decrypt, fill L1)', 'µs/call': Math.round(l2.usPerCall!) },
      {
        path: 'L2 hit (Redis Cluster 3+3, decrypt, fill L1)',
        'µs/call': Math.round(l2Cluster.usPerCall!),
      },
      { path: 'token request (per-process cache)', 'µs/call': Math.round(network.usPerCall!) },
    ]);
  } finally {
    await Promise.all([authority.close(), redis.stop(), cluster.stop()]);
  }
}

main().catch((e: Error) => {
  console.error(e);
  process.exit(1);
});

import { randomBytes } from 'node:crypto';
import { createClient, createCluster } from '@keyv/redis';
import { ConfigurationError } from '@app/client-credentials';
import { startDevAuthority } from '@app/dev-authority';
import type { TokenApp } from '../support/token-app';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { startRedisCluster } from '../support/redis-topologies';
import { register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * `callers` cold calls spread over two replicas of a new app, then a late third replica's: one
 * token, one request at the authority, the late one served from the shared cache. Returns the
 * first replica.
 */
async function sharesOneRequest(
  replica: (reg: ReturnType<typeof register>) => Promise<TokenApp>,
  callers: number,
): Promise<TokenApp> {
  const reg = register(authority);
  const [a, b] = [await replica(reg), await replica(reg)];

  const cold = await Promise.all(
    Array.from({ length: callers }, (_, i) =>
      (i % 2 ? a : b).tokens.getAccessToken(authority.apiScope),
    ),
  );
  const late = await (await replica(reg)).tokens.getAccessToken(authority.apiScope);

  expect(new Set([...cold, late].map((t) => t.token)).size).toBe(1);
  expect(late.source).toBe('cache');
  expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
  return a;
}

/**
 * `cache.shared.redisClient`: a node-redis client the app already has, in either protocol
 * version — the library shares tokens and the lock through it, and leaves it open on shutdown.
 */
describe.each([2, 3] as const)('Shared cache through the app’s own client (RESP%i)', (RESP) => {
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];
  // The few members this test uses: a RESP2 and a RESP3 client have different node-redis types.
  const clients: { isOpen: boolean; destroy(): void; ping(): Promise<unknown> }[] = [];
  const apps: TokenApp[] = [];

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const c of clients.splice(0)) if (c.isOpen) c.destroy();
  });

  async function replica(reg: ReturnType<typeof register>): Promise<TokenApp> {
    const client = createClient({ url: redis.url, RESP });
    await client.connect();
    clients.push(client);
    const app = await startReplica(authority, reg, { redisClient: client, encryptionKeys });
    apps.push(app);
    return app;
  }

  it('shares one token request among replicas, from a cold start, and adopts it later', async () => {
    await sharesOneRequest(replica, 20);
  });

  it('leaves the app’s client open when the app closes', async () => {
    const reg = register(authority);
    const app = await replica(reg);
    await app.tokens.getAccessToken(authority.apiScope);

    await apps.splice(0)[0].close();

    expect(clients[0].isOpen).toBe(true);
    expect(await clients[0].ping()).toBe('PONG');
  });
});

/**
 * The app's own client with a type mapping (node-redis `withTypeMapping`, usual where Redis also
 * holds binary values): bulk strings as Buffers are read as text; integers as strings, which the
 * cache cannot tell from its values, fail startup naming the fix.
 */
describe('Shared cache through the app’s own client with a type mapping', () => {
  // node-redis's RESP_TYPES (of @redis/client, not a dependency of ours): '$' and ':'.
  const BLOB_STRING = 36 as const;
  const NUMBER = 58 as const;
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];
  const clients: { destroy(): void }[] = [];
  const apps: TokenApp[] = [];

  afterAll(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const c of clients.splice(0)) c.destroy();
  });

  function track<C extends { destroy(): void }>(c: C): C {
    clients.push(c);
    return c;
  }

  it('bulk strings as Buffers: shares one token request, and no entry is taken for a tampered one', async () => {
    let last!: TokenApp;
    const a = await sharesOneRequest(async (reg) => {
      apps.push(
        (last = await startReplica(authority, reg, {
          redisClient: track(
            createClient({ url: redis.url }).withTypeMapping({ [BLOB_STRING]: Buffer }),
          ),
          encryptionKeys,
        })),
      );
      return last;
    }, 4);

    for (const app of [a, last]) {
      expect(app.tokens.getCacheStats()).toMatchObject({ rejectedEntries: 0, errors: 0 });
    }
    expect(last.tokens.getCacheStats()!.reads).toBe(1);
  });

  it('integers as strings: startup fails with a ConfigurationError naming the fix', async () => {
    const reg = register(authority);
    const failure = await startReplica(authority, reg, {
      // Its type says so too (`del` answers `${number}`): only a cast passes it.
      redisClient: track(
        createClient({ url: redis.url }).withTypeMapping({ [NUMBER]: String }),
      ) as never,
      encryptionKeys,
    }).then(
      (app) => (apps.push(app), new Error('started')),
      (e: unknown) => e as Error,
    );

    expect(failure).toBeInstanceOf(ConfigurationError);
    expect(failure.message).toContain('cache.shared.redisClient');
    expect(failure.message).toContain('client.withTypeMapping({})');
  });
});

/**
 * The app's own Redis Cluster client, connected before the module starts: node-redis announced its
 * slot map ('connect') before the library listened, and the library still uses it.
 */
describe('Shared cache through the app’s own cluster client, already connected', () => {
  // One master and its replica: the smallest cluster, enough for a client that maps its slots.
  const [cluster] = useFixtures(() => startRedisCluster({ masters: 1 }));
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];
  const clients: { isOpen: boolean; destroy(): void }[] = [];
  const apps: TokenApp[] = [];

  afterAll(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const c of clients.splice(0)) if (c.isOpen) c.destroy();
  });

  async function replica(reg: ReturnType<typeof register>): Promise<TokenApp> {
    const client = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })) });
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    const app = await startReplica(authority, reg, { redisClient: client, encryptionKeys });
    apps.push(app);
    return app;
  }

  it('shares one token request between two replicas, and a late one adopts it', async () => {
    const a = await sharesOneRequest(replica, 10);
    expect(a.tokens.getCacheStats()).toMatchObject({ connected: true, errors: 0 });
  });
});

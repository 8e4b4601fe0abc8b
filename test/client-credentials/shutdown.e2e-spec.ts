import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { localCredential, startTokenApp } from '../support/token-app';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Timers created while tracking runs and not yet cleared or fired, seen through async_hooks (which
 * sees unref'd timers too, unlike getActiveResourcesInfo()). Left out: the authority's server side,
 * this test's own sleep, undici's process-wide clock, which stops by itself within a second, and
 * jest's progress display (it ticks in this process when jest runs one file in band).
 */
function timerTracker() {
  /** Live timers, and whether the library's code created them. */
  const live = new Map<number, boolean>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const stack = new Error().stack ?? '';
      if (
        /dev-authority|_http_server|_http_outgoing|undici\/lib\/util\/timers|@jest\/reporters|setTimeout \(\S*shutdown\.e2e-spec/.test(
          stack,
        )
      ) {
        return;
      }
      live.set(id, stack.includes('libs/client-credentials/src/'));
    },
    destroy(id) {
      live.delete(id);
    },
  });
  return {
    start: () => hook.enable(),
    stop: () => hook.disable(),
    count: () => live.size,
    /** Live timers the library's own code created. */
    library: () => [...live.values()].filter(Boolean).length,
  };
}

/** Open client sockets to a port, as Node lists them. */
function socketsTo(port: number): number {
  const handles = (
    process as unknown as { _getActiveHandles(): { remotePort?: number; destroyed?: boolean }[] }
  )._getActiveHandles();
  return handles.filter((h) => h.remotePort === port && !h.destroyed).length;
}

const [authority] = useFixtures(startDevAuthority);

/** app.close() leaves no timer, socket or watcher of the library behind. */
describe('TokenService shutdown', () => {
  it('releases refresh timers, retry timers and connections on app.close()', async () => {
    const tenant = authority.createTenant();
    authority.setAccessTokenLifetime(60, { tenantId: tenant.tenantId, refreshInSeconds: 30 });
    const reg = tenant.createApp();
    const timers = timerTracker();
    const port = Number(new URL(authority.url).port);
    timers.start();

    const app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    });
    // Tokens in use (a refresh timer each), one for another resource, and a failing one (a cool-down).
    authority.createResource({ appIdUri: 'api://other' });
    await app.tokens.getAccessToken(authority.apiScope);
    await app.tokens.getAccessToken(authority.apiScope);
    await app.tokens.getAccessToken('api://other/.default');
    await app.tokens.getAccessToken('api://unknown/.default').catch(() => undefined);
    expect(timers.count()).toBeGreaterThan(0);
    expect(socketsTo(port)).toBeGreaterThan(0);

    await app.close();
    // Socket close events arrive a tick or two later; a loaded CI machine needs a margin.
    await sleep(300);
    timers.stop();

    expect(timers.count()).toBe(0);
    expect(socketsTo(port)).toBe(0);
    await expect(app.tokens.getAccessToken('api://never/.default')).rejects.toMatchObject({
      code: 'shutdown',
    });
  });

  it('leaves no refresh timer on tokens evicted from memory while they were being stored', async () => {
    // Redis makes each store write a round trip, during which other tokens evict this one.
    const redis = await startRedisServer();
    try {
      const home = authority.createTenant();
      const reg = home.createApp();
      const secret = reg.addSecret();
      const tenants = [home, ...Array.from({ length: 60 }, () => authority.createTenant())];
      for (const t of tenants) {
        if (t !== home) t.createApp({ clientId: reg.clientId, secret });
        authority.setAccessTokenLifetime(60, { tenantId: t.tenantId, refreshInSeconds: 30 });
      }
      const timers = timerTracker();
      timers.start();

      const app = await startTokenApp({
        credentials: {
          api: localCredential(authority, home.tenantId, reg.clientId, [
            { type: 'secret', secret },
          ]),
        },
        cache: {
          maxEntries: 1,
          shared: {
            redisUrl: redis.url,
            encryptionKeys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
          },
        },
      });
      await Promise.all(
        tenants.map((t) => app.tokens.getAccessToken(authority.apiScope, { tenantId: t.tenantId })),
      );
      await app.close();
      await sleep(300);
      timers.stop();

      expect(timers.count()).toBe(0);
    } finally {
      await redis.stop();
    }
  });

  it('holds one refresh timer for all its tokens, and none for evicted ones', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const secret = reg.addSecret();
    const tenants = [home, ...Array.from({ length: 49 }, () => authority.createTenant())];
    for (const t of tenants) if (t !== home) t.createApp({ clientId: reg.clientId, secret });
    const timers = timerTracker();
    timers.start();
    const app = await startTokenApp({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
      },
      cache: { maxEntries: 20 },
    });
    try {
      for (const t of tenants) {
        await app.tokens.getAccessToken(authority.apiScope, { tenantId: t.tenantId });
        await app.tokens.getAccessToken(authority.apiScope, { tenantId: t.tenantId }); // in use
      }
      // Timers cleared just now are reported gone a tick later.
      await sleep(100);
      // 20 tokens in memory (30 evicted), each due for a refresh: one timer (50 before); the other
      // is the service's once-a-second look at the wall clock (a suspended host's jump ahead).
      expect(timers.library()).toBe(2);
    } finally {
      await app.close();
      timers.stop();
    }
  });
});

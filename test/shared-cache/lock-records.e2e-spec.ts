import { randomBytes } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { createClient } from '@keyv/redis';
import { startDevAuthority } from '@app/dev-authority';
import type { SharedCacheOptions } from '@app/client-credentials';
// The lock's Redis name is internal; the test names it the same way to play a Redis writer.
import { KeyNamer } from '@app/client-credentials/shared-cache/key-names';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { eventually } from '../support/waiting';
import { register, startReplica, type Registration } from './shared-app';

type RedisClient = ReturnType<typeof createClient>;

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * Values in a token's lock key that no live holder left there: a sealed failure record replayed
 * after its time (with no expiry, or with a fresh one), and a value without an expiry. Anyone who
 * can write to Redis can put them there; none may stop a replica from fetching its token, nor make
 * it wait out its lock wait. A failure record within its time is still shared.
 */
describe('Shared cache: lock values no live holder left', () => {
  let raw: RedisClient | undefined;
  const apps: TokenApp[] = [];
  const key = randomBytes(32);
  const shared: SharedCacheOptions = {
    redisUrl: '',
    encryptionKeys: [{ id: 'k1', key: key.toString('base64') }],
    // A caller held up by a lock no holder extends gives up after this and fetches on its own
    // (counted as a lock wait timeout); shorter than the default keeps a failing run short.
    lockWaitMs: 2000,
  };

  beforeAll(async () => {
    raw = createClient({ url: redis.url });
    await raw.connect();
  });
  afterEach(async () => {
    authority.faults.clear();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(() => {
    raw?.destroy();
  });

  /** A replica that asks the authority once per call (no retry), so one 503 is one failure. */
  async function replica(
    reg: Registration,
    login: Partial<SharedCacheOptions> = {},
  ): Promise<TokenApp> {
    const app = await startReplica(
      authority,
      reg,
      { ...shared, redisUrl: redis.url, ...login },
      { retry: { maxAttempts: 1 } },
    );
    apps.push(app);
    return app;
  }

  function lockName(reg: Registration): string {
    const storeKey = `client-credentials:${authority.url}|${reg.tenantId}|${reg.clientId}|api/secret#0|${authority.apiScope}`;
    return new KeyNamer('client-credentials:', [{ key }]).name('lock', storeKey);
  }

  /**
   * A failure record as a holder seals it (a 503 from the authority), copied while it was there;
   * resolves once Redis has expired it, so the copy is past its time.
   */
  async function expiredFailureRecord(reg: Registration): Promise<string> {
    const holder = await replica(reg);
    authority.faults.add({ kind: 'status', status: 503, tenantId: reg.tenantId, times: 1 });
    const error = await holder.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'endpoint_unavailable' });
    const record = await raw!.get(lockName(reg));
    expect(record).toMatch(/^failed:/);
    let gone = false;
    for (let i = 0; i < 250 && !gone; i++) {
      gone = (await raw!.exists(lockName(reg))) === 0;
      if (!gone) await new Promise((r) => setTimeout(r, 20));
    }
    expect(gone).toBe(true);
    return record!;
  }

  /** A fresh replica's first call, with the lock key as the test left it: one fetch, on its own lock. */
  async function expectFetchedOnce(
    reg: Registration,
    login: Partial<SharedCacheOptions> = {},
  ): Promise<void> {
    const before = authority.countTokenRequests({ clientId: reg.clientId });
    const app = await replica(reg, login);

    const token = await app.tokens.getAccessToken(authority.apiScope);

    expect(token.source).toBe('network');
    expect(authority.countTokenRequests({ clientId: reg.clientId }) - before).toBe(1);
    // It took the lock at once: no wait, no wait bound reached, no failure read.
    expect(app.tokens.getCacheStats()).toMatchObject({
      lockWaits: 0,
      lockWaitTimeouts: 0,
      lockWaitFailures: 0,
      lockAcquired: 1,
    });
    // Its own lock is released (after its token's write, which the caller does not wait for):
    // the stale value is gone for every replica.
    let released = false;
    for (let i = 0; i < 250 && !released; i++) {
      released = (await raw!.exists(lockName(reg))) === 0;
      if (!released) await new Promise((r) => setTimeout(r, 20));
    }
    expect(released).toBe(true);
  }

  it('a failure record replayed without an expiry → the next caller fetches, once', async () => {
    const reg = register(authority);
    const record = await expiredFailureRecord(reg);
    await raw!.set(lockName(reg), record);

    await expectFetchedOnce(reg);
  });

  it('a failure record replayed with a fresh expiry, past its sealed one → the next caller fetches, once', async () => {
    const reg = register(authority);
    const record = await expiredFailureRecord(reg);
    await raw!.set(lockName(reg), record, { PX: 60_000 });

    await expectFetchedOnce(reg);
  });

  it('a lock value with no expiry is no live lock → a cold caller fetches without waiting', async () => {
    const reg = register(authority);
    await raw!.set(lockName(reg), 'no-holder-set-this');

    await expectFetchedOnce(reg);
  });

  it('a lock value expiring later than any holder sets (PX 3600000) is no live lock → a cold caller fetches without waiting', async () => {
    const reg = register(authority);
    await raw!.set(lockName(reg), 'no-holder-set-this', { PX: 3_600_000 });

    await expectFetchedOnce(reg);
  });

  it("a waiter behind a slow holder fetches on its own in time for its caller's deadline", async () => {
    const reg = register(authority);
    // A holder whose one token request takes 6 s (the authority's latency, once); the request
    // after it takes 0.3 s.
    const holder = await replica(reg);
    authority.faults.add({ kind: 'latency', latencyMs: 6000, tenantId: reg.tenantId, times: 1 });
    const slow = holder.tokens.getAccessToken(authority.apiScope);
    authority.faults.add({ kind: 'latency', latencyMs: 300, tenantId: reg.tenantId, times: 1 });
    // The waiter's callers wait 3 s (acquireMs); one request of its own takes at most 1 s.
    const app = await startReplica(
      authority,
      reg,
      { ...shared, redisUrl: redis.url, lockWaitMs: 60_000 },
      { timeouts: { acquireMs: 3000, requestMs: 1000 } },
    );
    apps.push(app);

    const token = await app.tokens.getAccessToken(authority.apiScope);

    // It waited for the holder, gave up in time to fetch, and got its own token: no timeout.
    expect(token.source).toBe('network');
    expect(app.tokens.getCacheStats()).toMatchObject({ lockWaits: 1, lockWaitTimeouts: 1 });
    await slow;
  });

  it('the same, as the least-privilege ACL user of docs/shared-cache.md (with +pttl)', async () => {
    const reg = register(authority);
    const password = randomBytes(18).toString('base64url');
    const rules = ['get', 'set', 'del', 'eval', 'pexpire', 'pttl'].map((c) => `+${c}`);
    await raw!.sendCommand(['ACL', 'SETUSER', 'token-cache', 'on', `>${password}`, 'resetkeys']);
    await raw!.sendCommand([
      'ACL',
      'SETUSER',
      'token-cache',
      '~client-credentials:*',
      '-@all',
      ...rules,
    ]);
    await raw!.set(lockName(reg), 'no-holder-set-this');

    await expectFetchedOnce(reg, { username: 'token-cache', password });
  });

  it('a failure record within its time is still shared: the waiter throws it, 0 requests', async () => {
    const reg = register(authority);
    const [holder, waiter] = [await replica(reg), await replica(reg)];
    authority.faults.add({ kind: 'status', status: 503, tenantId: reg.tenantId, times: 1 });
    await expect(holder.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'endpoint_unavailable',
    });
    const before = authority.countTokenRequests({ clientId: reg.clientId });

    await expect(waiter.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'endpoint_unavailable',
    });

    expect(authority.countTokenRequests({ clientId: reg.clientId }) - before).toBe(0);
    expect(waiter.tokens.getCacheStats()).toMatchObject({ lockWaitFailures: 1, lockAcquired: 0 });
  });

  it("a holder's own network trouble (its `ca` trusts no such authority) frees the lock: the waiter fetches its token itself", async () => {
    const reg = register(authority);
    const credential = localCredential(authority, reg.tenantId, reg.clientId, [
      { type: 'secret', secret: reg.secret },
    ]);
    // A: its trust store holds some public root, not the local authority's CA (a replica with a
    // wrong `ca` or proxy); a second attempt after 500 ms keeps it holding the lock meanwhile.
    const broken = await startTokenApp({
      credentials: { api: { ...credential, ca: rootCertificates[0] } },
      cache: { shared: { ...shared, redisUrl: redis.url } },
      retry: { maxAttempts: 2, initialDelayMs: 500 },
    });
    apps.push(broken);
    const healthy = await replica(reg);
    const failing = broken.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    await eventually(() => broken.tokens.getCacheStats()?.lockAcquired === 1);

    await expect(healthy.tokens.getAccessToken(authority.apiScope)).resolves.toBeDefined();

    await expect(failing).resolves.toMatchObject({ code: 'network_error' });
    expect(healthy.tokens.getCacheStats()).toMatchObject({
      lockWaits: 1,
      lockWaitFailures: 0,
      lockAcquired: 1,
    });
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
  });
});

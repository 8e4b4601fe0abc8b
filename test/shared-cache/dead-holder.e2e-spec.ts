import { randomBytes } from 'node:crypto';
import { createClient } from '@keyv/redis';
import { startDevAuthority } from '@app/dev-authority';
// The lock's Redis name is internal; the test names it the same way to play a replica that died.
import { KeyNamer } from '@app/client-credentials/shared-cache/key-names';
import type { TokenApp } from '../support/token-app';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/** A replica that took the cross-process lock and died: the lock's expiry frees the token. */
describe('Shared cache: a lock holder that dies', () => {
  let app: TokenApp | undefined;

  afterAll(async () => {
    await app?.close();
  });

  it('waits for the dead holder’s lock to expire, then fetches the token itself, once', async () => {
    const reg = register(authority);
    const storeKey = `client-credentials:${authority.url}|${reg.tenantId}|${reg.clientId}|api/secret#0|${authority.apiScope}`;
    const key = randomBytes(32);
    const lockName = new KeyNamer('client-credentials:', [{ key }]).name('lock', storeKey);
    app = await startReplica(authority, reg, {
      redisUrl: redis.url,
      encryptionKeys: [{ id: 'k1', key: key.toString('base64') }],
    });
    // What a replica leaves behind when it is SIGKILLed holding the lock: the lock, no token.
    // Set once the replica has started, right before its call: a start-up slower than the lock's
    // 1.5 s (a busy machine) would otherwise find it expired already.
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.set(lockName, 'dead-replica', { PX: 1500 });
    await client.quit();
    const token = await app.tokens.getAccessToken(authority.apiScope);

    expect(token.source).toBe('network');
    expect(authority.countTokenRequests({ tenantId: reg.tenantId })).toBe(1);
    // It waited on the lock, and the lock's expiry — not the wait bound — let it go.
    expect(app.tokens.getCacheStats()).toMatchObject({
      lockWaits: 1,
      lockWaitTimeouts: 0,
      lockWaitFailures: 0,
      lockAcquired: 1,
    });
  });
});

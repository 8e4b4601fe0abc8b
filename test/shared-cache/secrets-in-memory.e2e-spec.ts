import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { createClient } from '@keyv/redis';
import { startDevAuthority } from '@app/dev-authority';
import type { TokenApp } from '../support/token-app';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import { eventually, register, startReplica } from './shared-app';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * The shared cache's secrets — encryption keys and a password in the Redis URL — are used but
 * never reachable by walking the service's properties (a debugger's view, `inspect`, a serialiser).
 */
describe('Shared cache: secrets in memory', () => {
  let app: TokenApp | undefined;
  const password = randomBytes(18).toString('base64url');

  beforeAll(async () => {
    // A Redis that needs the password: the URL's password must really be used.
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await admin.configSet('requirepass', password);
    admin.destroy();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('a property walk of TokenService reaches neither an encryption key nor the Redis password', async () => {
    const key = randomBytes(32);
    const url = `redis://:${password}@127.0.0.1:${redis.port}`;
    app = await startReplica(authority, register(authority), {
      redisUrl: url,
      encryptionKeys: [{ id: 'k1', key: key.toString('base64') }],
    });
    await app.tokens.getAccessToken(authority.apiScope);
    // The token's write finishes after the caller got it.
    expect(await eventually(() => app!.tokens.getCacheStats()?.writes === 1)).toBe(true);
    expect(app.tokens.getCacheStats()).toMatchObject({ connected: true, writes: 1 });

    const walked = [
      inspect(app.tokens, { customInspect: false, depth: Infinity, showHidden: true }),
      inspect(app.tokens, { depth: Infinity, showHidden: true, getters: true }),
    ].join('\n');
    // Sanity: the walk went deep (the credential's counters are there). The token path itself —
    // the cache, the shared cache and its connection — is held in #private fields, out of reach.
    expect(walked).toContain('cacheMisses');
    expect(walked).not.toContain('lockWaitTimeouts');
    for (const form of [
      password,
      key.toString('base64'),
      key.toString('hex'),
      key.toString('base64url'),
      // A Buffer walked without its custom inspect: its bytes as a list of numbers.
      [...key.subarray(0, 8)].join(', '),
    ]) {
      expect(walked).not.toContain(form);
    }
  });
});

import { randomBytes } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { ConfigurationError, type SharedCacheOptions } from '@app/client-credentials';
import type { TokenApp } from '../support/token-app';
import { useFixtures } from '../support/fixtures';
import { startSecureRedis } from '../support/redis-topologies';
import { CACHE_RULES } from './acl-rules';
import { eventually, register, startReplica, type Registration } from './shared-app';

/** The cache's ACL line without one of its commands. */
const without = (command: string) => CACHE_RULES.filter((rule) => rule !== `+${command}`);

/**
 * The shared cache over `rediss://` (a TLS-only Redis whose certificate a private CA issued) as an
 * ACL user allowed only the cache's commands on its own keys: tokens shared, a refused login or
 * an ACL short of a command fails startup naming the option (and the command), a password
 * provider is asked at each connection, and a Redis that is merely down is no startup error.
 */
describe('Shared cache: TLS and ACL users', () => {
  const apps: TokenApp[] = [];
  const cachePassword = randomBytes(18).toString('base64url');
  const rotatingPassword = { current: randomBytes(18).toString('base64url') };
  const encryptionKeys = [{ id: 'k1', key: randomBytes(32).toString('base64') }];

  const [authority, redis] = useFixtures(startDevAuthority, () =>
    startSecureRedis([
      { name: 'cache', password: cachePassword, rules: CACHE_RULES },
      { name: 'rotating', password: rotatingPassword.current, rules: CACHE_RULES },
      // Short of a command: EVAL (the store's reads), PEXPIRE (the lock's extension).
      { name: 'no-eval', password: cachePassword, rules: without('eval') },
      { name: 'no-pexpire', password: cachePassword, rules: without('pexpire') },
      { name: 'changing', password: cachePassword, rules: CACHE_RULES },
    ]),
  );
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  const shared = (more: Partial<SharedCacheOptions>): SharedCacheOptions => ({
    redisUrl: redis.url,
    username: 'cache',
    password: cachePassword,
    ca: redis.caPem,
    encryptionKeys,
    ...more,
  });

  async function start(reg: Registration, options: SharedCacheOptions): Promise<TokenApp> {
    const app = await startReplica(authority, reg, options);
    apps.push(app);
    return app;
  }

  it('replicas share tokens over rediss:// as a least-privilege ACL user', async () => {
    const reg = register(authority);
    const [a, b] = await Promise.all([start(reg, shared({})), start(reg, shared({}))]);
    expect(a.tokens.getCacheStats()).toMatchObject({ connected: true });

    const tokens = await Promise.all(
      [a, b].flatMap((app) =>
        Array.from({ length: 50 }, () => app.tokens.getAccessToken(authority.apiScope)),
      ),
    );

    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
    // The token's write finishes after its callers got it.
    const written = () => [a, b].some((app) => app.tokens.getCacheStats()!.writes > 0);
    expect(await eventually(written)).toBe(true);
    const stats = [a, b].map((app) => app.tokens.getCacheStats()!);
    expect(stats.reduce((n, s) => n + s.errors, 0)).toBe(0);
    expect(stats.reduce((n, s) => n + s.writes, 0)).toBe(1);
    expect(stats.reduce((n, s) => n + s.reads, 0)).toBeGreaterThanOrEqual(1);
    expect(await redis.admin('KEYS', 'client-credentials:t:*')).not.toBe('');
  });

  it('a refused login or an untrusted certificate fails startup naming the option, never echoing the secret', async () => {
    const reg = register(authority);
    const wrong = `wrong-${randomBytes(9).toString('hex')}`;
    const cases: [Partial<SharedCacheOptions>, string][] = [
      [{ password: wrong }, 'cache.shared.password'],
      [{ password: undefined, passwordProvider: () => wrong }, 'cache.shared.passwordProvider'],
      [{ username: 'nobody' }, 'cache.shared.password'],
      [{ ca: undefined }, 'cache.shared.ca'],
    ];
    for (const [more, field] of cases) {
      const failure = await start(reg, shared(more)).then(
        () => new Error('started'),
        (e: unknown) => e as Error,
      );
      expect(failure).toBeInstanceOf(ConfigurationError);
      expect(failure.message).toContain(field);
      expect(failure.message).not.toContain(wrong);
      expect(failure.message).not.toContain(cachePassword);
    }
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(0);
  });

  it('an ACL short of a command the cache sends fails startup naming it; one changed later is logged and counted as refused', async () => {
    const reg = register(authority);
    const refusal = (more: Partial<SharedCacheOptions>) =>
      start(reg, shared(more)).then(
        () => new Error('started'),
        (e: unknown) => e as Error,
      );
    // Without `+eval`, every read would fail while every write succeeds: a cache nobody reads.
    for (const [more, command] of [
      [{ username: 'no-eval', crossProcessLock: false }, 'eval'],
      [{ username: 'no-pexpire' }, 'pexpire'],
    ] as const) {
      const failure = await refusal(more);
      expect(failure).toBeInstanceOf(ConfigurationError);
      expect(failure.message).toContain(`the command '${command}'`);
      expect(failure.message).toContain(`+${command}`);
      expect(failure.message).not.toContain(cachePassword);
    }
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(0);

    // PEXPIRE is the lock's only: without the lock, that user is enough.
    const unlocked = await start(reg, shared({ username: 'no-pexpire', crossProcessLock: false }));
    await unlocked.tokens.getAccessToken(authority.apiScope);
    // The token's write finishes after the caller got it.
    expect(await eventually(() => unlocked.tokens.getCacheStats()?.writes === 1)).toBe(true);
    expect(unlocked.tokens.getCacheStats()).toMatchObject({ writes: 1, errors: 0 });

    // The ACL changed after startup: the refusal is counted and named, not a passing error.
    const app = await start(reg, shared({ username: 'changing', errorLogIntervalMs: 0 }));
    await redis.admin('ACL', 'SETUSER', 'changing', '-eval');
    const appIdUri = `api://tls-refused-${randomBytes(3).toString('hex')}`;
    authority.createResource({ appIdUri });
    await app.tokens.getAccessToken(`${appIdUri}/.default`);
    expect(app.tokens.getCacheStats()!.refusedCommands).toBeGreaterThanOrEqual(1);
    expect(app.logger.text).toContain("refused the command 'eval' (NOPERM)");
    expect(app.logger.text).toContain('allow `+eval`');
  });

  it('a password provider is asked before each connection: a rotated password is used at the reconnection', async () => {
    const reg = register(authority);
    let asked = 0;
    const app = await start(
      reg,
      shared({
        username: 'rotating',
        password: undefined,
        passwordProvider: async () => {
          asked++;
          await Promise.resolve();
          return rotatingPassword.current;
        },
      }),
    );
    expect(asked).toBe(1);
    await app.tokens.getAccessToken(authority.apiScope);

    // Rotate: the user gets a new password and its connections are dropped.
    rotatingPassword.current = randomBytes(18).toString('base64url');
    await redis.admin('ACL', 'SETUSER', 'rotating', 'resetpass', `>${rotatingPassword.current}`);
    await redis.admin('CLIENT', 'KILL', 'USER', 'rotating');

    expect(await eventually(() => asked >= 2 && app.tokens.getCacheStats()!.connected)).toBe(true);
    const writes = app.tokens.getCacheStats()!.writes;
    const appIdUri = `api://tls-rotated-${randomBytes(3).toString('hex')}`;
    authority.createResource({ appIdUri });
    await app.tokens.getAccessToken(`${appIdUri}/.default`);
    expect(await eventually(() => app.tokens.getCacheStats()!.writes === writes + 1)).toBe(true);
  });

  it('a password provider that never answers once is given up on: the connection is tried again and the provider asked again', async () => {
    const reg = register(authority);
    let asked = 0;
    const app = await start(
      reg,
      shared({
        username: 'rotating',
        password: undefined,
        // Bounds each provider call too (a vault call stuck on a dead connection).
        connectTimeoutMs: 300,
        errorLogIntervalMs: 0,
        passwordProvider: () =>
          ++asked === 1 ? new Promise<string>(() => undefined) : rotatingPassword.current,
      }),
    );

    expect(await eventually(() => app.tokens.getCacheStats()!.connected)).toBe(true);
    expect(asked).toBe(2);
    expect(app.logger.text).toContain('cache.shared.passwordProvider did not answer');
    expect(app.logger.text).not.toContain(rotatingPassword.current);
    await app.tokens.getAccessToken(authority.apiScope);
    expect(await eventually(() => app.tokens.getCacheStats()!.writes === 1)).toBe(true);
  });

  it('a Redis that is merely down is no startup error: tokens come from the authority, then memory', async () => {
    await redis.kill();
    const reg = register(authority);
    const app = await start(reg, shared({ connectTimeoutMs: 300 }));
    expect(app.tokens.getCacheStats()).toMatchObject({ connected: false });

    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => app.tokens.getAccessToken(authority.apiScope)),
    );

    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
  });
});

import { ConfigurationError } from '../errors/client-credentials.errors';
import { checkAccess, commandsNeeded, PROBE_REPLY } from './access-check';
import type { RedisConnection } from './redis-connection';
import { ErrorReporter, newSharedCacheStats } from './shared-cache-stats';

const fields = { login: 'password', trust: 'ca' };

/** The connection as the check sees it: a client whose EVAL answers `reply`. */
function setUp(reply: () => Promise<unknown>) {
  const evals: { keys: string[]; arguments: string[] }[] = [];
  const connection = {
    client: {
      eval: (_script: string, options: { keys: string[]; arguments: string[] }) => {
        evals.push(options);
        return reply();
      },
    },
  } as unknown as RedisConnection;
  const warnings: string[] = [];
  const stats = newSharedCacheStats();
  const reporter = new ErrorReporter(
    stats,
    { log: () => undefined, error: () => undefined, warn: (m: string) => warnings.push(m) },
    0,
  );
  const check = (needs = { lock: true, cluster: false }) =>
    checkAccess(connection, 'client-credentials:probe', needs, fields, 500, reporter);
  return { check, evals, warnings, stats };
}

describe('checkAccess', () => {
  it('asks for the commands of the store, and those of the lock and of a cluster only when used', () => {
    expect(commandsNeeded({ lock: false, cluster: false })).toEqual(['get', 'set', 'del']);
    expect(commandsNeeded({ lock: true, cluster: true })).toEqual([
      'get',
      'set',
      'del',
      'pexpire',
      'ping',
    ]);
  });

  it('runs one script, on the probe key of the cache prefix: passed, nothing to report', async () => {
    const { check, evals, warnings } = setUp(async () => [1, PROBE_REPLY]);

    expect(await check()).toBeUndefined();
    expect(evals).toHaveLength(1);
    expect(evals[0].keys).toEqual(['client-credentials:probe']);
    expect(evals[0].arguments.slice(1)).toEqual(['get', 'set', 'del', 'pexpire']);
    expect(warnings).toEqual([]);
  });

  it('reads a client whose strings come as Buffers (a type mapping), and refuses one whose integers come as strings', async () => {
    expect(await setUp(async () => [1, Buffer.from(PROBE_REPLY)]).check()).toBeUndefined();

    for (const reply of [['1', PROBE_REPLY], null]) {
      const e = await setUp(async () => reply).check();

      expect(e).toBeInstanceOf(ConfigurationError);
      expect(e!.message).toContain('cache.shared.redisClient: the client maps Redis replies');
      expect(e!.message).toContain('client.withTypeMapping({})');
    }
  });

  it('a command the ACL refuses is a ConfigurationError naming it and the ACL fix', async () => {
    for (const command of ['eval', 'pexpire']) {
      const { check } = setUp(() =>
        Promise.reject(
          new Error(`NOPERM this user has no permissions to run the '${command}' command`),
        ),
      );

      const e = await check();

      expect(e).toBeInstanceOf(ConfigurationError);
      expect(e!.message).toContain(`the command '${command}'`);
      expect(e!.message).toContain(`allow \`+${command}\``);
    }
  });

  it('a Redis that runs no scripts is a ConfigurationError', async () => {
    const { check } = setUp(() => Promise.reject(new Error("ERR unknown command 'EVAL'")));

    expect((await check())!.message).toContain('does not run EVAL');
  });

  it('Redis failing otherwise (gone, slow) is reported, not fatal', async () => {
    const { check, warnings, stats } = setUp(() =>
      Promise.reject(new Error('Socket closed unexpectedly')),
    );

    expect(await check()).toBeUndefined();
    expect(stats.errors).toBe(1);
    expect(warnings[0]).toContain('checking the ACL failed');
  });
});

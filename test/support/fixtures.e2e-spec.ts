import { connect } from 'node:net';
import { startDevAuthority } from '@app/dev-authority';
import { releaseAll, startAll } from './fixtures';
import { RedisStartError, startRedisServer } from './redis-server';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const children = () => process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap').length;

/**
 * A suite whose servers cannot all start fails with a message naming what is missing and leaves
 * nothing running — so jest exits on its own (scripts/check-clean-failure.sh checks that end to end).
 */
describe('Fixture start and release', () => {
  const saved = process.env.REDIS_SERVER_BIN;
  afterEach(() => {
    if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
    else process.env.REDIS_SERVER_BIN = saved;
  });

  it('a missing redis-server: a RedisStartError naming it, and the authority started beside it is closed', async () => {
    process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
    const authority = startDevAuthority();

    const error = await startAll([authority, startRedisServer()]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RedisStartError);
    expect(error).toMatchObject({ code: 'REDIS_SERVER_MISSING' });
    expect((error as Error).message).toContain('redis-server');
    expect((error as Error).message).toContain('apt-get install redis-server');
    const port = Number(new URL((await authority).url).port);
    expect(await listening(port)).toBe(false);
    expect(children()).toBe(0);
  });

  it('a redis-server that exits at once: three ports tried, then an error, no process left', async () => {
    process.env.REDIS_SERVER_BIN = 'false';

    const error = await startRedisServer().catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'REDIS_SERVER_EXITED' });
    expect((error as Error).message).toMatch(/^redis-server exited with 1 on port \d+/);
    expect(children()).toBe(0);
  });

  it('releaseAll skips what never started and releases the rest when one release throws', async () => {
    const released: string[] = [];
    const failing = {
      close: () => {
        released.push('failing');
        throw new Error('close failed');
      },
    };
    const redisLike = { stop: async () => void released.push('redis') };
    const client = { destroy: () => void released.push('client') };

    await expect(releaseAll(undefined, failing, null, redisLike, client)).rejects.toThrow(
      'close failed',
    );
    expect(released).toEqual(['failing', 'redis', 'client']);
  });
});

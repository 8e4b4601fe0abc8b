import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArcKeys } from './arc-keys';

/** Key files left in `dir`, once the removals under way have reached the disk. */
async function keyFiles(dir: string, expected: number): Promise<string[]> {
  // No timer here (they are fake): each readdir is a trip through libuv, as a removal is.
  let files = await readdir(dir);
  for (let i = 0; i < 200 && files.length !== expected; i++) files = await readdir(dir);
  return files;
}

describe('ArcKeys', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arc-keys-'));
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });

  afterEach(async () => {
    jest.useRealTimers();
    await rm(dir, { recursive: true, force: true });
  });

  it('removes the key files of challenges nobody answered when they expire', async () => {
    const keys = new ArcKeys(dir);
    const first = await readFile(await keys.challenge(), 'utf8');
    await jest.advanceTimersByTimeAsync(60_000);
    await keys.challenge();
    await keys.challenge();
    expect(await readdir(dir)).toHaveLength(3);

    await jest.advanceTimersByTimeAsync(4 * 60_000 + 1); // the first is 5 min old
    expect(await keyFiles(dir, 2)).toHaveLength(2);
    expect(await keys.redeem(first)).toBe(false);

    await jest.advanceTimersByTimeAsync(60_000); // the other two
    expect(await keyFiles(dir, 0)).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
    await keys.close();
  });

  it('honours a key until it expires, once', async () => {
    const keys = new ArcKeys(dir);
    const path = await keys.challenge();
    const secret = await readFile(path, 'utf8');
    await jest.advanceTimersByTimeAsync(5 * 60_000 - 1);
    expect(await keys.redeem(secret)).toBe(true);
    expect(await readdir(dir)).toEqual([]);
    expect(await keys.redeem(secret)).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('removes every key file on close, and those of challenges still being written', async () => {
    const keys = new ArcKeys(dir);
    await keys.challenge();
    const late = keys.challenge();
    await keys.close();
    await expect(late).rejects.toThrow(/closed/);
    expect(await keyFiles(dir, 0)).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });
});

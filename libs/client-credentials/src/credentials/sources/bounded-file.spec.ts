import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBoundedFile } from './bounded-file';

describe('readBoundedFile', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'bounded-file-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads a regular file up to its bound, exactly', async () => {
    const path = join(dir, 'f');
    await writeFile(path, 'é'.repeat(8));
    await expect(readBoundedFile(path, 16)).resolves.toBe('é'.repeat(8));
  });

  it.each([
    ['a file past its bound', 'f', 'EFBIG', 'larger than 16 bytes'],
    ['a directory', '.', 'ENOTREG', 'not a regular file'],
    ['a missing file', 'missing', 'ENOENT', 'ENOENT'],
  ])('refuses %s', async (_, name, code, message) => {
    const path = join(dir, name);
    if (name === 'f') await writeFile(path, 'x'.repeat(17));
    await expect(readBoundedFile(path, 16)).rejects.toMatchObject({ code, message });
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkloadIdentitySource } from './workload-identity.source';

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (payload: unknown) => `${segment({ alg: 'RS256' })}.${segment(payload)}.c2lnbmF0dXJl`;

/** The federated token file is read without jose: its `exp` decides when it is read again. */
describe('WorkloadIdentitySource reads the token file', () => {
  let dir: string;
  let path: string;
  let source: WorkloadIdentitySource;
  const assertion = () => {
    const credential = source.msalCredential();
    if (!('clientAssertion' in credential)) throw new Error('no assertion callback');
    return (credential.clientAssertion as () => Promise<string>)();
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'workload-identity-'));
    path = join(dir, 'token');
    source = new WorkloadIdentitySource({ type: 'workload-identity', tokenFilePath: path }, 'wi#0');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('sends a JWT that has not expired, as read (trimmed)', async () => {
    const token = jwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
    await writeFile(path, `${token}\n`);
    await expect(assertion()).resolves.toBe(token);
  });

  it('sends a JWT without exp', async () => {
    const token = jwt({ sub: 'system:serviceaccount:jobs:sync' });
    await writeFile(path, token);
    await expect(assertion()).resolves.toBe(token);
  });

  it.each([
    ['no JWT at all', 'not a token'],
    ['a payload that is not JSON', `${segment({})}.bm90IGpzb24.c2ln`],
    ['a payload that is not an object', jwt([1, 2])],
  ])('refuses %s: assertion_failed', async (_, content) => {
    await writeFile(path, content);
    await expect(assertion()).rejects.toMatchObject({
      code: 'assertion_failed',
      message: expect.stringContaining('does not hold a JWT') as unknown,
    });
  });

  it('refuses an expired JWT: assertion_failed naming when it expired', async () => {
    await writeFile(path, jwt({ exp: 1_700_000_000 }));
    await expect(assertion()).rejects.toMatchObject({
      code: 'assertion_failed',
      message: expect.stringContaining('expired at 2023-11-14T22:13:20.000Z') as unknown,
    });
  });
});

describe('WorkloadIdentitySource refuses a token file it cannot read safely', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'workload-identity-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const read = (path: string) => {
    const source = new WorkloadIdentitySource(
      { type: 'workload-identity', tokenFilePath: path },
      'wi#0',
    );
    const credential = source.msalCredential();
    if (!('clientAssertion' in credential)) throw new Error('no assertion callback');
    return { source, assertion: (credential.clientAssertion as () => Promise<string>)() };
  };

  // A FIFO without a writer: fs.readFile would block one of libuv's threads for ever.
  (process.platform === 'win32' ? it.skip : it)(
    'a FIFO: unavailable (not a regular file), at once',
    async () => {
      const fifo = join(dir, 'token');
      execFileSync('mkfifo', [fifo]);
      const { source, assertion } = read(fifo);
      await expect(assertion).rejects.toMatchObject({
        code: 'source_unavailable',
        message: expect.stringContaining(`cannot read '${fifo}' (not a regular file)`) as unknown,
      });
      await expect(source.available()).resolves.toBe(`'${fifo}' is not a regular file`);
    },
  );

  it('a file larger than 64 KiB: unavailable, not read whole', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'x'.repeat(64 * 1024 + 1));
    await expect(read(path).assertion).rejects.toMatchObject({
      code: 'source_unavailable',
      message: expect.stringContaining('(larger than 65536 bytes)') as unknown,
    });
  });
});

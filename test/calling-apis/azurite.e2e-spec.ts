import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { createTestPki } from './recording-server';

const ROOT = join(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Runs a child to its end; resolves to its exit code and output. */
function run(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

const [authority] = useFixtures(startDevAuthority);

/**
 * The proof of the TokenCredential: an unmodified Azure SDK client (@azure/storage-blob) against
 * Azurite with `--oauth basic` over HTTPS, which checks the token's issuer (sts.windows.net, a v1.0
 * token), audience (https://storage.azure.com) and lifetime — issued by the local authority the way
 * Entra issues tokens for Azure Storage.
 */
describe('TokenCredential: @azure/storage-blob against Azurite', () => {
  let azurite: ChildProcess | undefined;
  let dir: string;
  let blobUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'azurite-'));
    const pki = await createTestPki();
    await writeFile(join(dir, 'cert.pem'), pki.certificatePem);
    await writeFile(join(dir, 'key.pem'), pki.privateKeyPem);
    await writeFile(join(dir, 'cas.pem'), `${authority.caPem}\n${pki.caPem}`);
    const port = await freePort();
    azurite = spawn(
      join(ROOT, 'node_modules', '.bin', 'azurite-blob'),
      [
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--oauth',
        'basic',
        '--cert',
        join(dir, 'cert.pem'),
        '--key',
        join(dir, 'key.pem'),
        '--location',
        join(dir, 'data'),
        '--skipApiVersionCheck',
        '--loose',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await new Promise<void>((resolve, reject) => {
      azurite!.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('successfully listens')) resolve();
      });
      azurite!.on('exit', (code) => reject(new Error(`azurite exited with ${code}`)));
    });
    blobUrl = `https://127.0.0.1:${port}/devstoreaccount1`;
  }, 60_000);
  afterAll(async () => {
    // Its files are removed once it has exited (it writes until then).
    if (azurite !== undefined && azurite.exitCode === null) {
      const exited = new Promise((resolve) => azurite!.once('exit', resolve));
      azurite.kill();
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads a blob and reads it back with tokens from our cache: one token request', async () => {
    authority.createResource({ appIdUri: 'https://storage.azure.com' });
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const secret = reg.addSecret();

    const result = await run(
      spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'azurite-client.ts')], {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_EXTRA_CA_CERTS: join(dir, 'cas.pem'),
          TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
          H7_TENANT: tenant.tenantId,
          H7_CLIENT: reg.clientId,
          H7_SECRET: secret,
          H7_AUTHORITY: authority.url,
          H7_BLOB_URL: blobUrl,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );

    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toEqual({
      read: 'hello from a TokenCredential',
      second: 'second write',
    });
    expect(
      authority.countTokenRequests({
        clientId: reg.clientId,
        scope: 'https://storage.azure.com/.default',
      }),
    ).toBe(1);
  }, 60_000);
});

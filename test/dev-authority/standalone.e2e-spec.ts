import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Starts `npm run dev-authority`'s entry point; resolves once it printed its summary. */
function startStandalone(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, '../../apps/dev-authority/src/main.ts')],
      {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ctrl-C stops it.')) resolve({ child, out });
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dev-authority exited with ${code}: ${out}`)));
  });
}

/** The standalone authority writes where docs/dev-authority.md says. */
describe('dev-authority standalone (npm run dev-authority)', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dev-authority-standalone-'));
  });
  afterAll(async () => {
    // Still running (an exit by signal sets signalCode, not exitCode).
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('DEV_AUTHORITY_DIR replaces .dev/authority/: the CA and credentials in it, the manifest beside it', async () => {
    const stateDir = join(dir, 'my-authority');
    const started = await startStandalone({ DEV_AUTHORITY_DIR: stateDir, DEV_AUTHORITY_PORT: '0' });
    child = started.child;

    expect(existsSync(join(stateDir, 'ca.pem'))).toBe(true);
    expect(existsSync(join(stateDir, 'authority'))).toBe(false);
    const manifest = JSON.parse(await readFile(`${stateDir}.json`, 'utf8'));
    expect(manifest.caPath).toBe(join(stateDir, 'ca.pem'));
    expect(manifest.apps.certificate.certificatePath.startsWith(`${stateDir}/`)).toBe(true);
    expect(started.out).toContain(`manifest      ${stateDir}.json`);

    // Stops cleanly on SIGTERM, as documented.
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Started through swc-node (TypeScript compiled on the fly): slow when the machine is busy.
  }, 90_000);
});

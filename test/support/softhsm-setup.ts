import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * jest's globalSetup of the e2e project: a SoftHSM2 configuration and token directory of this run
 * in a temp folder, named by SOFTHSM2_CONF before the workers start. SoftHSM reads the variable in
 * C_Initialize, from the real environment — which a test file cannot change (jest gives each file
 * a copy of process.env) — so it is set here, once, for every worker. Never the system's tokens.
 */
export default async function softHsmSetup(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'softhsm-run-'));
  await mkdir(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(
    conf,
    `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  process.env.SOFTHSM2_TEST_DIR = dir;
}

import { rm } from 'node:fs/promises';

/** jest's globalTeardown of the e2e project: removes the run's SoftHSM2 folder (softhsm-setup.ts). */
export default async function softHsmTeardown(): Promise<void> {
  const dir = process.env.SOFTHSM2_TEST_DIR;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

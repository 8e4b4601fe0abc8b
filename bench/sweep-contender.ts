/**
 * One contender of the cold-sweep bench, in its own process: one token in each of `tenants` (a
 * multi-tenant app), nothing cached yet, `concurrency` at a time. Prints one JSON line of results.
 */
import { performance } from 'node:perf_hooks';
import { makeClient, type ClientConfig } from './clients';
import { contenderMain, pool, watchLoop, type LoopDelay } from './support';

export interface SweepInput extends ClientConfig {
  tenants: string[];
  scope: string;
  concurrency: number;
}

export interface SweepResult {
  kind: string;
  start: number;
  end: number;
  wallMs: number;
  /** Process CPU time (user + system) of the sweep, ms. */
  cpuMs: number;
  failed: number;
  firstError?: string;
  loop: LoopDelay;
}

async function run(input: SweepInput): Promise<SweepResult> {
  // Built before the clock starts: construction is start-up, not part of a sweep.
  const client = await makeClient(input);
  const loop = watchLoop();
  const start = Date.now();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const { failed, firstError } = await pool(input.tenants, input.concurrency, (t) =>
    client.get(input.scope, t),
  );
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  const end = Date.now();
  const delay = loop.stop();
  await client.close();
  return {
    kind: input.kind,
    start,
    end,
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    failed: failed.length,
    firstError,
    loop: delay,
  };
}

if (require.main === module) contenderMain(run);

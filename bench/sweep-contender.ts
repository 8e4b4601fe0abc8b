/**
 * One contender of the cold-sweep bench, in its own process: one token in each of `tenants` (a
 * multi-tenant app), nothing cached yet, `concurrency` at a time. Prints one JSON line of results.
 */
import { performance } from 'node:perf_hooks';
import { makeClient, type ClientConfig } from './clients';
import { contenderMain, phase, pool, watchLoop, type LoopDelay } from './support';

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
  /**
   * The sweep's start and end on the monotonic clock, µs — the clock of V8's CPU profiles, so a
   * profile of this process or of the authority's can be cut to the sweep (BENCH_CPU_PROF).
   */
  monotonicUs: [number, number];
}

async function run(input: SweepInput): Promise<SweepResult> {
  // Built before the clock starts: construction is start-up, not part of a sweep.
  const client = await makeClient(input);
  const loop = watchLoop();
  // The parent reads the authority's CPU time between these two phases.
  phase('sweep');
  const start = Date.now();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const mono0 = process.hrtime.bigint();
  const { failed, firstError } = await pool(input.tenants, input.concurrency, (t) =>
    client.get(input.scope, t),
  );
  const wallMs = performance.now() - t0;
  const mono1 = process.hrtime.bigint();
  const used = process.cpuUsage(cpu);
  const end = Date.now();
  phase('swept');
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
    monotonicUs: [Number(mono0 / 1000n), Number(mono1 / 1000n)],
  };
}

if (require.main === module) contenderMain(run);

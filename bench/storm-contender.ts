/**
 * One contender of the refresh-storm bench, in its own process: caches one token in each of
 * `tenants` (a multi-tenant app), which the authority makes come due together at `dueAt`; then,
 * from that point on, `callers` concurrent callers keep asking for them for `windowMs`. Prints
 * one JSON line of results.
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { makeClient, type ClientConfig } from './clients';
import { contenderMain, phase, pool, sleep, watchLoop, type LoopDelay } from './support';

export interface StormInput extends ClientConfig {
  tenants: string[];
  scope: string;
  /** Epoch ms at which every cached token comes due. */
  dueAt: number;
  windowMs: number;
  callers: number;
}

export interface StormResult {
  kind: string;
  fillMs: number;
  /** Fill calls that failed at first (then retried), and the first error. */
  fillFailures: number;
  fillError?: string;
  /** Spread of the refresh points the client reported (ms), where it reports them. */
  dueSpreadMs?: number;
  windowStart: number;
  windowEnd: number;
  calls: number;
  failedCalls: number;
  /** Slowest single call in the window, ms. */
  slowestCallMs: number;
  /** Slowest call answered from the cache, where the client says which were (ours, msal-node). */
  slowestHitMs?: number;
  loop: LoopDelay;
  /** The longest garbage collection pause in the window, ms (a stall no library code shortens). */
  gcMaxMs: number;
  /** Ours: failed token requests by code (background refreshes included). */
  failures?: Record<string, number>;
}

async function run(input: StormInput): Promise<StormResult> {
  const client = await makeClient(input);
  const tenants = input.tenants;
  const fillStart = performance.now();
  let minDue = Infinity;
  let maxDue = -Infinity;
  const cacheOne = async (t: string) => {
    const r = await client.get(input.scope, t);
    if (r.refreshOn !== undefined) {
      minDue = Math.min(minDue, r.refreshOn);
      maxDue = Math.max(maxDue, r.refreshOn);
    }
  };
  // A failed fill is set-up, not the storm: retried (and reported), a few at a time.
  let fill = await pool(tenants, 50, cacheOne);
  const fillFailures = fill.failed.length;
  const fillError = fill.firstError;
  for (let round = 0; round < 3 && fill.failed.length > 0; round++)
    fill = await pool(fill.failed, 8, cacheOne);
  if (fill.failed.length > 0)
    throw new Error(`${fill.failed.length} tokens could not be cached: ${fill.firstError}`);
  // In use: this library refreshes from its timers only tokens hit during their life, so one hit
  // each makes the 5,000 timers fire together — the storm. (msal-node and @azure/identity have no
  // timers: they refresh on the caller, in the window below.)
  if (client.tokens !== undefined) await pool(tenants, 50, (t) => client.get(input.scope, t));
  const fillMs = performance.now() - fillStart;
  phase('filled');

  await sleep(input.dueAt - Date.now());
  phase('storm');
  const windowStart = Date.now();
  const end = windowStart + input.windowMs;
  const loop = watchLoop();
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  let calls = 0;
  let failedCalls = 0;
  let slowestCallMs = 0;
  let slowestHitMs = 0;
  let knowsHits = false;
  // Caller c walks all tokens from its own offset; each call yields to the event loop, as calls
  // arriving over I/O would (a chain of resolved awaits alone would starve timers and sockets).
  const caller = async (c: number) => {
    const offset = Math.floor((c * tenants.length) / input.callers);
    for (let k = 0; Date.now() < end; k++) {
      const t0 = performance.now();
      try {
        const r = await client.get(input.scope, tenants[(offset + k) % tenants.length]);
        const ms = performance.now() - t0;
        if (r.fromCache !== undefined) knowsHits = true;
        if (r.fromCache === true) slowestHitMs = Math.max(slowestHitMs, ms);
        slowestCallMs = Math.max(slowestCallMs, ms);
      } catch {
        failedCalls++;
        slowestCallMs = Math.max(slowestCallMs, performance.now() - t0);
      }
      calls++;
      await nextTurn();
    }
  };
  await Promise.all(Array.from({ length: input.callers }, (_, c) => caller(c)));
  const windowEnd = Date.now();
  const delay = loop.stop();
  gc.disconnect();
  phase('end');
  const failures = client.failures?.();
  await client.close();
  return {
    kind: input.kind,
    fillMs,
    fillFailures,
    fillError,
    dueSpreadMs: Number.isFinite(minDue) ? maxDue - minDue : undefined,
    windowStart,
    windowEnd,
    calls,
    failedCalls,
    slowestCallMs,
    slowestHitMs: knowsHits ? slowestHitMs : undefined,
    loop: delay,
    gcMaxMs,
    failures,
  };
}

if (require.main === module) contenderMain(run);

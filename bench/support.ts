/**
 * What the bench's parent and contender processes share: spawning a contender in a process of its
 * own, bounded concurrency, event-loop delay, sizes scaled by BENCH_SCALE, table formatting.
 */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DevAuthority } from '../libs/dev-authority/src';
import type { ContenderKind } from './clients';

/**
 * Counts shrink by BENCH_SCALE (e.g. 0.1) for development runs; the published figures use 1.
 * Never below `min`.
 */
export function scaled(n: number, min = 1): number {
  const factor = Number(process.env.BENCH_SCALE ?? '1');
  return Math.max(min, Math.round(n * (Number.isFinite(factor) && factor > 0 ? factor : 1)));
}

/** A phase message a contender sends its parent over IPC (the parent snapshots its counters). */
export interface PhaseMessage {
  phase: string;
  at: number;
}

/**
 * Runs `entry` (a contender script) in its own process and resolves to the JSON it prints last.
 * Trust of the authority's CA: process-wide through NODE_EXTRA_CA_CERTS for every contender but
 * `ours-ca`, which must trust it through its `ca` option alone.
 */
export function runContender<
  R,
  I extends { kind: ContenderKind | 'floor' | 'wire' } = { kind: ContenderKind | 'floor' | 'wire' },
>(
  entry: string,
  input: I,
  caPath: string,
  options: {
    exposeGc?: boolean;
    /** V8's old-space limit for the contender, MB (a million cached tokens need ~2 GB). */
    maxHeapMb?: number;
    onPhase?: (m: PhaseMessage) => void;
  } = {},
): Promise<R> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: '1' };
  if (input.kind === 'ours-ca') delete env.NODE_EXTRA_CA_CERTS;
  else env.NODE_EXTRA_CA_CERTS = caPath;
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of every contender, to find what blocks its loop.
  const prof = process.env.BENCH_CPU_PROF;
  const args = [
    ...(options.exposeGc ? ['--expose-gc'] : []),
    ...(options.maxHeapMb ? [`--max-old-space-size=${options.maxHeapMb}`] : []),
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
    '-r',
    '@swc-node/register',
    entry,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env,
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    // Over IPC, not argv: 5,000 tenant ids exceed the kernel's limit on one argument.
    child.send({ input });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('message', (m: PhaseMessage) => options.onPhase?.(m));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0)
        return reject(new Error(`contender ${input.kind} (${entry}) exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as R);
    });
  });
}

/** The contender side: gets the input, runs, prints the result as the last stdout line, exits. */
export function contenderMain<I, R>(run: (input: I) => Promise<R>): void {
  process.once('message', (m: { input: I }) => start(run, m.input));
}

function start<I, R>(run: (input: I) => Promise<R>, input: I): void {
  run(input).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      // Keep-alive sockets of msal's and identity's default clients would hold the process open.
      process.disconnect?.();
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}

/** Tells the parent that a phase begins (no-op when not spawned with IPC). */
export function phase(name: string): void {
  process.send?.({ phase: name, at: Date.now() } satisfies PhaseMessage);
}

/** Runs `fn` over `items`, at most `concurrency` at once; resolves to the items that threw. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<unknown>,
): Promise<{ failed: T[]; firstError?: string }> {
  let next = 0;
  const failed: T[] = [];
  let firstError: string | undefined;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed.push(item);
        firstError ??= e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { failed, firstError };
}

/** Event-loop delay over a phase, in ms. */
export interface LoopDelay {
  p99: number;
  max: number;
}

/** Starts sampling event-loop delay (every 5 ms); `stop` returns p99 and max. */
export function watchLoop(): { stop(): LoopDelay } {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  return {
    stop() {
      h.disable();
      return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    },
  };
}

/** A number for a table: 2 decimals below 10, none above. */
export const fmt = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n)
    ? '—'
    : n < 10
      ? n.toFixed(2)
      : Math.round(n).toLocaleString('en-US');

/** `value (ratio×)` against a reference, or the value alone for the reference itself. */
export function withRatio(
  value: number | undefined,
  reference: number | undefined,
  isReference = false,
): string {
  if (value === undefined) return '—';
  if (isReference || reference === undefined || reference === 0) return fmt(value);
  return `${fmt(value)} (${(value / reference).toFixed(value / reference < 10 ? 2 : 0)}×)`;
}

/** A Markdown table. */
export function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * A multi-tenant app: registered in a home tenant and consented in `count - 1` more (same client
 * id). Returns its home registration and every tenant id, the home one first.
 */
export function multiTenantApp(authority: DevAuthority, count: number) {
  const home = authority.createTenant();
  const app = home.createApp();
  const tenants = [home.tenantId];
  for (let i = 1; i < count; i++) {
    const t = authority.createTenant();
    t.createApp({ clientId: app.clientId });
    tenants.push(t.tenantId);
  }
  return { home, app, tenants };
}

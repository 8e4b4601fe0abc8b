/**
 * One contender of the cache-hit bench, run in its own process (so contenders never share a heap
 * or an event loop): µs per cache hit by number of cached tokens, and the token requests of 1,000
 * concurrent cold callers. For this library, also heap per cached token (run with --expose-gc).
 * Each size's hits are timed in turn with the floor's (an awaited Map.get over as many entries) in
 * the same process, so that the ratio holds on a machine that is busy with something else.
 *
 * Fetching 100,000 real tokens from the authority takes minutes, so this library's cache beyond
 * its first token is filled through `cache.store`: a cache-manager `Cache` pre-filled with
 * real-shaped stored entries (the first real token's, each with a distinct token of the same
 * length), each then read once through `TokenService` (a miss answered by the store) so the
 * in-process index holds it. The store is emptied before the heap is measured: only the index's
 * copy counts. msal-node and @azure/identity get real tokens from the authority.
 */
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { makeClient, type BenchClient, type ClientConfig } from './clients';
import { contenderMain, pool } from './support';

export interface ContenderInput extends Omit<ClientConfig, 'kind'> {
  kind: 'ours' | 'msal' | 'identity';
  sizes: number[];
  /** Scope for the cold-start run (nothing cached yet). */
  coldScope: string;
  coldCallers: number;
}

export interface ContenderResult {
  kind: string;
  /** µs per cache hit, by number of cached entries. */
  hitMicros: Record<number, number>;
  /** µs per call of the floor over the same scopes, measured in turn with the hits. */
  floorMicros: Record<number, number>;
  /** Hit ÷ floor: the median of the ratios of runs measured one right after the other. */
  ratio: Record<number, number>;
  /** Ours: heap bytes per cached token, by number of entries (over the one-token baseline). */
  bytesPerToken?: Record<number, number>;
  tokenLength?: number;
  coldErrors: number;
}

/** Entries put in the store and read into the index at a time. */
const FILL_CHUNK = 50_000;

/** Scopes of the cache-size runs: the first `sizes` of these. */
export const benchScope = (i: number): string => `api://bench-${i}/.default`;

/** Something the hit timer calls: one awaited lookup per key. */
export interface Floor {
  get(scope: string): Promise<unknown>;
}

/** The floor: an awaited Map.get with an expiry check, what any cache hit must at least cost. */
export function floor(): Floor {
  const map = new Map<string, { token: string; expiresOn: number }>();
  return {
    async get(scope) {
      let e = map.get(scope);
      if (e === undefined || e.expiresOn <= Date.now()) {
        e = { token: scope, expiresOn: Date.now() + 3_600_000 };
        map.set(scope, e);
      }
      return e;
    },
  };
}

/** µs per call, cycling through `scopes` (every cached entry is hit, in turn) for ≥ 250 ms. */
export async function timeRun(client: Floor, scopes: string[]): Promise<number> {
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsed: bigint;
  do {
    for (let i = 0; i < Math.max(scopes.length, 1000); i++)
      await client.get(scopes[i % scopes.length]);
    calls += Math.max(scopes.length, 1000);
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < 250_000_000n);
  return Number(elapsed) / 1000 / calls;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The client's hits and the floor's over the same scopes (a floor map of the same size, in the
 * same process), in turn: 6 pairs of runs, the first a warm-up. The ratio is the median of the
 * pairs' ratios, so a machine busy with something else for a while slows both sides of a pair.
 */
async function measureHits(
  client: Floor,
  scopes: string[],
): Promise<{ micros: number; floorMicros: number; ratio: number }> {
  const reference = floor();
  for (const s of scopes) await reference.get(s);
  const micros: number[] = [];
  const floors: number[] = [];
  const ratios: number[] = [];
  for (let run = 0; run < 6; run++) {
    const f = await timeRun(reference, scopes);
    const c = await timeRun(client, scopes);
    if (run === 0) continue;
    floors.push(f);
    micros.push(c);
    ratios.push(c / f);
  }
  return { micros: median(micros), floorMicros: median(floors), ratio: median(ratios) };
}

/** Records the hits of `size` entries in `result`. */
async function recordHits(result: ContenderResult, client: Floor, size: number): Promise<void> {
  const m = await measureHits(client, scopeList(size));
  result.hitMicros[size] = m.micros;
  result.floorMicros[size] = m.floorMicros;
  result.ratio[size] = m.ratio;
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the contender with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A store the bench can fill and empty: keyv over a Map it holds, behind cache-manager. */
function benchStore() {
  const map = new Map<string, string>();
  return { map, cache: createCache({ stores: [new Keyv({ store: map })] }) };
}

/** This library: hits over real-shaped entries from the store, and heap per token. */
async function ours(input: ContenderInput, result: ContenderResult): Promise<BenchClient> {
  const store = benchStore();
  const client = await makeClient({
    ...input,
    kind: 'ours',
    store: store.cache,
    maxEntries: Math.max(...input.sizes) + 1000,
  });
  const tokens = client.tokens!;
  // Measured as the floor is: one awaited call, without the bench client's wrapper around it.
  const direct: Floor = { get: (scope) => tokens.getAccessToken(scope) };
  await client.get(benchScope(0));
  const [[firstKey, firstValue]] = [...store.map];
  const template = (JSON.parse(firstValue) as { value: Record<string, unknown> }).value;
  const token = template.token as string;
  result.tokenLength = token.length;
  result.bytesPerToken = {};
  const base = heapUsed();
  let filled = 1;
  for (const size of input.sizes) {
    // In chunks: the store's copy of a million entries would double the heap the index needs.
    for (let from = filled; from < size; from += FILL_CHUNK) {
      const to = Math.min(size, from + FILL_CHUNK);
      const now = Date.now();
      const entries = [];
      for (let i = from; i < to; i++) {
        const scope = benchScope(i);
        // Same length as the real token, distinct: the signature's tail carries the index.
        const mark = i.toString(36).padStart(8, '0');
        entries.push({
          key: firstKey.slice('keyv:'.length).replace(benchScope(0), scope),
          value: {
            ...template,
            token: token.slice(0, -mark.length) + mark,
            obtainedAt: now,
            expiresOn: now + 3_600_000,
            refreshOn: now + 1_800_000,
            scopes: [scope],
          },
          ttl: 3_000_000,
        });
      }
      for (let i = 0; i < entries.length; i += 5000)
        await store.cache.mset(entries.slice(i, i + 5000));
      entries.length = 0;
      const scopes = Array.from({ length: to - from }, (_, k) => benchScope(from + k));
      const storeHits = tokens.getStats().storeHits;
      const { firstError } = await pool(scopes, 50, (s) => client.get(s));
      const read = tokens.getStats().storeHits - storeHits;
      if (read !== scopes.length || tokens.getStats().tokenRequests !== 1)
        throw new Error(`the index took ${read} of ${scopes.length} stored entries: ${firstError}`);
      // Only the index's copy is measured.
      store.map.clear();
    }
    if (size > filled) {
      filled = size;
      result.bytesPerToken[size] = (heapUsed() - base) / (size - 1);
    }
    await recordHits(result, direct, size);
  }
  return client;
}

const scopeList = (n: number) => Array.from({ length: n }, (_, i) => benchScope(i));

async function run(input: ContenderInput): Promise<ContenderResult> {
  const result: ContenderResult = {
    kind: input.kind,
    hitMicros: {},
    floorMicros: {},
    ratio: {},
    coldErrors: 0,
  };
  let client: Floor & { close?(): Promise<void> };
  if (input.kind === 'ours') {
    client = await ours(input, result);
  } else {
    client = await makeClient({ ...input, kind: input.kind });
    let filled = 0;
    for (const size of input.sizes) {
      const scopes = scopeList(size);
      // Real tokens, 32 requests at a time.
      for (; filled < size; filled += 32)
        await Promise.all(scopes.slice(filled, filled + 32).map((s) => client.get(s)));
      await recordHits(result, client, size);
    }
  }
  if (input.coldCallers > 0) {
    const outcomes = await Promise.allSettled(
      Array.from({ length: input.coldCallers }, () => client.get(input.coldScope)),
    );
    result.coldErrors = outcomes.filter((o) => o.status === 'rejected').length;
  }
  await client.close?.();
  return result;
}

if (require.main === module) contenderMain(run);

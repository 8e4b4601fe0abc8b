/**
 * One replica of `npm run bench:fleet`, in its own process: a Nest app with the module, one
 * multi-tenant credential (a secret) of the local authority, and `cache.shared` on the Redis the
 * parent names. Driven over IPC by the parent:
 *   {input} → `ready` once initialised;
 *   `warm` → gets the token of every tenant (cold: one request for the fleet per token) → `warm`;
 *   `load` → from then on calls every tenant's token once per `cycleMs`, spread evenly, timing every
 *            cache hit, until `stop` → the FleetWorkerResult, and exits.
 * `mark` restarts the counters (hits, failures, CPU, the shared cache's) at the start of the
 * measured window; `snap` answers `{ snap }`, the shared cache's counters since `mark`.
 */
import { readFileSync } from 'node:fs';
import { createHistogram, performance } from 'node:perf_hooks';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsModule,
  TokenService,
  type SharedCacheOptions,
  type SharedCacheStats,
} from '../libs/client-credentials/src';
import { pool } from './support';

/** What the parent tells a replica. */
export interface FleetWorkerInput {
  authorityUrl: string;
  caPath: string;
  homeTenantId: string;
  clientId: string;
  secret: string;
  tenants: string[];
  scope: string;
  shared: Omit<SharedCacheOptions, 'redisClient' | 'passwordProvider'>;
  /** Every tenant's token is asked for once per cycle. */
  cycleMs: number;
}

/** What a replica reports at `stop`, for the measured window. */
export interface FleetWorkerResult {
  calls: number;
  failed: number;
  firstError?: string;
  hits: number;
  /** Cache hits: p50, p99 and the slowest, µs. */
  hitP50Us: number;
  hitP99Us: number;
  hitMaxUs: number;
  /** CPU time (user + system) of the window, ms. */
  cpuMs: number;
  /** At the end, MB. */
  rssMb: number;
  heapUsedMb: number;
  /** Token requests this replica sent in the window, and refreshes it adopted from Redis. */
  tokenRequests: number;
  storeHits: number;
  cacheStats?: SharedCacheStats;
}

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

async function main(input: FleetWorkerInput): Promise<void> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({
        logger: silent,
        credentials: {
          api: {
            tenantId: input.homeTenantId,
            clientId: input.clientId,
            authorityHost: input.authorityUrl,
            ca: readFileSync(input.caPath, 'utf8'),
            sources: [{ type: 'secret', secret: input.secret }],
          },
        },
        cache: { maxEntries: input.tenants.length * 2, shared: input.shared },
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  const tokens = app.get(TokenService);
  const hits = createHistogram();
  let counters = { calls: 0, failed: 0, firstError: undefined as string | undefined };
  let cpu = process.cpuUsage();
  let base = { tokenRequests: 0, storeHits: 0 };
  let cacheBase = tokens.getCacheStats();
  /** The shared cache's counters since `mark`. */
  const cacheSinceMark = (): SharedCacheStats | undefined => {
    const now = tokens.getCacheStats();
    if (now === undefined || cacheBase === undefined) return now;
    const since = { ...now };
    for (const key of Object.keys(now) as (keyof SharedCacheStats)[]) {
      if (typeof now[key] === 'number') (since[key] as number) -= cacheBase[key] as number;
    }
    return since;
  };
  let loading = false;

  const call = async (tenantId: string) => {
    counters.calls++;
    const started = performance.now();
    try {
      const token = await tokens.getAccessToken(input.scope, { tenantId });
      if (token.source === 'cache') {
        hits.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
      }
    } catch (e) {
      counters.failed++;
      counters.firstError ??= (e as Error).message;
    }
  };

  /** One call per tenant per cycle, in slices every 20 ms: steady, as a fleet of workers calls. */
  const load = async () => {
    const slices = Math.max(1, Math.round(input.cycleMs / 20));
    const per = Math.ceil(input.tenants.length / slices);
    let at = 0;
    let next = performance.now();
    while (loading) {
      const slice = input.tenants.slice(at, at + per);
      at = at + per >= input.tenants.length ? 0 : at + per;
      await Promise.all(slice.map(call));
      next += 20;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
  };

  process.on('message', (m: string) => {
    if (m === 'warm') {
      void pool(input.tenants, 50, call).then(() => process.send!('warm'));
    } else if (m === 'load') {
      loading = true;
      void load();
    } else if (m === 'mark') {
      hits.reset();
      counters = { calls: 0, failed: 0, firstError: undefined };
      cpu = process.cpuUsage();
      const s = tokens.getStats();
      base = { tokenRequests: s.tokenRequests, storeHits: s.storeHits };
      cacheBase = tokens.getCacheStats();
    } else if (m === 'snap') {
      process.send!({ snap: cacheSinceMark() });
    } else if (m === 'stop') {
      loading = false;
      const used = process.cpuUsage(cpu);
      const memory = process.memoryUsage();
      const stats = tokens.getStats();
      const result: FleetWorkerResult = {
        ...counters,
        hits: hits.count,
        hitP50Us: hits.count > 0 ? hits.percentile(50) : 0,
        hitP99Us: hits.count > 0 ? hits.percentile(99) : 0,
        hitMaxUs: hits.count > 0 ? hits.max : 0,
        cpuMs: (used.user + used.system) / 1000,
        rssMb: memory.rss / 2 ** 20,
        heapUsedMb: memory.heapUsed / 2 ** 20,
        tokenRequests: stats.tokenRequests - base.tokenRequests,
        storeHits: stats.storeHits - base.storeHits,
        cacheStats: cacheSinceMark(),
      };
      process.send!({ result }, () => {
        void app.close().finally(() => process.exit(0));
      });
    }
  });
  process.send!('ready');
}

process.once('message', (m: { input: FleetWorkerInput }) => {
  main(m.input).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
});

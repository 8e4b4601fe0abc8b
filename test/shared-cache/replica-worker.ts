/**
 * One replica for the shared-cache e2e tests and the bench: a Nest app with the module, pointed
 * at the local authority and (unless `shared` is false) at Redis. Run as
 * `node -r @swc-node/register test/shared-cache/replica-worker.ts '<ReplicaInput JSON>'`.
 * It prints `ready` once initialised, waits for a line on stdin (so that all replicas start
 * together), makes `callsPerScope` concurrent calls for each scope and prints a ReplicaResult.
 *
 * With `rounds: true` the test drives it instead, one stdin line per round: `round <n> <scope>`
 * makes n concurrent calls for that scope plus one for every scope of earlier rounds, and
 * prints `round-done <RoundResult JSON>`; `calls <n> <scope> [<scope>…]` makes n concurrent calls
 * for each of those scopes only (steady load on tokens already held) and prints `calls-done
 * <RoundResult JSON>`; `replace <n> <scope>` has n callers replace the token of `scope` an API
 * refused and prints `replace-done <ReplaceResult JSON>`; `end` prints the ReplicaResult and exits.
 * So a test can act (kill a Redis node) between rounds, or while one runs.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsError,
  ClientCredentialsModule,
  TokenService,
  type SharedCacheOptions,
  type SharedCacheStats,
} from '../../libs/client-credentials/src';

/** What a replica is told. */
export interface ReplicaInput {
  authorityUrl: string;
  caPath: string;
  tenantId: string;
  clientId: string;
  secret: string;
  /**
   * Instead of the app and its secret: the host's system-assigned managed identity at this App
   * Service endpoint (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER` of the replica's process).
   */
  managedIdentity?: { endpoint: string; header: string };
  /** Redis URL; no shared cache when absent and no `cluster` / `sentinel` is given (the per-process baseline). */
  redisUrl?: string;
  encryptionKeys?: { id: string; key: string }[];
  /** More `cache.shared` options (topology, login, `ca`, lock settings), JSON-serialisable ones only. */
  sharedOptions?: Omit<
    SharedCacheOptions,
    'redisUrl' | 'redisClient' | 'encryptionKeys' | 'passwordProvider'
  >;
  /** The module's `timeouts` (short-lived test tokens want a shorter `requestMs`). */
  timeouts?: { requestMs?: number; acquireMs?: number };
  /** Driven round by round over stdin (see above) rather than one burst. */
  rounds?: boolean;
  scopes: string[];
  callsPerScope: number;
  /** Bench mode: one call per scope, one after another, timed (`usPerCall`). */
  sequential?: boolean;
}

/** What a replica prints after each driven round. */
export interface RoundResult {
  calls: number;
  failed: number;
  errors: string[];
  /** Token requests this replica sent so far. */
  tokenRequests: number;
  /** Whom the round's tokens were issued to, distinct: `<oid>@<tid>` of each JWT. */
  identities: string[];
  /** What `tenantOf()` answers after the round. */
  tenantOf: string;
  /** The shared cache's counters so far (`calls` rounds only). */
  cacheStats?: SharedCacheStats;
}

/** What a replica prints after a driven `replace` (see {@link ReplicaInput.rounds}). */
export interface ReplaceResult {
  /** The token the replica held, which the API refused. */
  refused: string;
  /** The distinct answers its callers got ('none': no replacement). */
  replacements: string[];
  /** Token requests this replica sent for them. */
  tokenRequests: number;
  /** What a plain call gets afterwards. */
  servedAfter: string;
}

/** What a replica prints. */
export interface ReplicaResult {
  calls: number;
  failed: number;
  errors: string[];
  /** `name:code` of each failed call's error (e.g. `TokenRequestRejectedError:credential_rejected`), distinct. */
  errorCodes: string[];
  network: number;
  cache: number;
  /** Distinct tokens seen per scope. */
  distinctTokens: number;
  tokenRequests: number;
  storeHits: number;
  lockWaits?: number;
  /** The shared cache's counters at the end. */
  cacheStats?: SharedCacheStats;
  /** Sequential mode: mean microseconds per call. */
  usPerCall?: number;
}

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]) as ReplicaInput;
  const ca = readFileSync(input.caPath, 'utf8');
  if (input.managedIdentity !== undefined) {
    process.env.IDENTITY_ENDPOINT = input.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = input.managedIdentity.header;
  }
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({
        logger: silent,
        timeouts: input.timeouts,
        credentials: {
          api:
            input.managedIdentity === undefined
              ? {
                  tenantId: input.tenantId,
                  clientId: input.clientId,
                  authorityHost: input.authorityUrl,
                  ca,
                  sources: [{ type: 'secret', secret: input.secret }],
                }
              : { ca, sources: [{ type: 'managed-identity' }] },
        },
        cache:
          input.redisUrl === undefined &&
          input.sharedOptions?.cluster === undefined &&
          input.sharedOptions?.sentinel === undefined
            ? undefined
            : {
                shared: {
                  ...input.sharedOptions,
                  redisUrl: input.redisUrl,
                  encryptionKeys: input.encryptionKeys!,
                },
              },
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  const tokens = app.get(TokenService);
  process.stdout.write('ready\n');
  if (input.rounds) return driven(input, tokens, () => app.close());
  await new Promise<void>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', () => {
      lines.close();
      process.stdin.destroy();
      resolve();
    });
  });

  const result: ReplicaResult = {
    calls: 0,
    failed: 0,
    errors: [],
    errorCodes: [],
    network: 0,
    cache: 0,
    distinctTokens: 0,
    tokenRequests: 0,
    storeHits: 0,
  };
  if (input.sequential) {
    const started = process.hrtime.bigint();
    for (const scope of input.scopes) {
      result.calls++;
      const t = await tokens.getAccessToken(scope).catch(() => undefined);
      if (t === undefined) result.failed++;
      else result[t.source]++;
    }
    result.usPerCall = Number(process.hrtime.bigint() - started) / 1000 / input.scopes.length;
  }
  await Promise.all(
    (input.sequential ? [] : input.scopes).map(async (scope) => {
      const seen = new Set<string>();
      await Promise.all(
        Array.from({ length: input.callsPerScope }, async () => {
          result.calls++;
          try {
            const t = await tokens.getAccessToken(scope);
            seen.add(t.token);
            result[t.source]++;
          } catch (e) {
            result.failed++;
            if (result.errors.length < 5) result.errors.push((e as Error).message);
            const code = `${(e as Error).name}:${(e as ClientCredentialsError).code}`;
            if (!result.errorCodes.includes(code)) result.errorCodes.push(code);
          }
        }),
      );
      result.distinctTokens += seen.size;
    }),
  );
  const stats = tokens.getStats();
  result.tokenRequests = stats.tokenRequests;
  result.storeHits = stats.storeHits;
  result.lockWaits = tokens.getCacheStats()?.lockWaits;
  const cacheStats = tokens.getCacheStats();
  result.cacheStats = cacheStats && { ...cacheStats };
  await app.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Rounds as the test sends them; every call's failure is counted, none is retried. */
async function driven(
  input: ReplicaInput,
  tokens: TokenService,
  close: () => Promise<void>,
): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  const seen: string[] = [];
  const total: ReplicaResult = {
    calls: 0,
    failed: 0,
    errors: [],
    errorCodes: [],
    network: 0,
    cache: 0,
    distinctTokens: 0,
    tokenRequests: 0,
    storeHits: 0,
  };
  for await (const line of lines) {
    if (line === 'end') break;
    const [command, n, scope, ...more] = line.split(' ');
    if (command === 'replace') {
      process.stdout.write(`replace-done ${JSON.stringify(await replace(tokens, scope, +n))}\n`);
      continue;
    }
    const round: RoundResult = {
      calls: 0,
      failed: 0,
      errors: [],
      tokenRequests: 0,
      identities: [],
      tenantOf: '',
    };
    const identities = new Set<string>();
    const steady = command === 'calls';
    const targets = steady
      ? [scope, ...more].flatMap((s) => Array<string>(Number(n)).fill(s))
      : [...Array<string>(Number(n)).fill(scope), ...seen];
    if (!steady) seen.push(scope);
    await Promise.all(
      targets.map(async (s) => {
        round.calls++;
        try {
          const t = await tokens.getAccessToken(s);
          total[t.source]++;
          identities.add(identityOf(t.token));
        } catch (e) {
          round.failed++;
          if (round.errors.length < 3) round.errors.push((e as Error).message);
        }
      }),
    );
    round.tokenRequests = tokens.getStats().tokenRequests;
    round.identities = [...identities];
    round.tenantOf = tokens.tenantOf();
    if (steady) round.cacheStats = tokens.getCacheStats();
    total.calls += round.calls;
    total.failed += round.failed;
    total.errors.push(...round.errors.slice(0, 5 - total.errors.length));
    process.stdout.write(`${steady ? 'calls' : 'round'}-done ${JSON.stringify(round)}\n`);
  }
  lines.close();
  process.stdin.destroy();
  const stats = tokens.getStats();
  total.tokenRequests = stats.tokenRequests;
  total.storeHits = stats.storeHits;
  const cacheStats = tokens.getCacheStats();
  total.cacheStats = cacheStats && { ...cacheStats };
  await close();
  process.stdout.write(`${JSON.stringify(total)}\n`);
}

/** `<oid>@<tid>` of a JWT access token. */
function identityOf(token: string): string {
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
    oid?: string;
    tid?: string;
  };
  return `${claims.oid}@${claims.tid}`;
}

/**
 * `replace <n> <scope>`: the API refused this replica's current token of `scope`; n concurrent
 * callers ask for its replacement, as the authenticated fetch does after a 401.
 */
async function replace(tokens: TokenService, scope: string, n: number): Promise<ReplaceResult> {
  const refused = (await tokens.getAccessToken(scope)).token;
  const requestsBefore = tokens.getStats().tokenRequests;
  const answers = await Promise.all(
    Array.from({ length: n }, () =>
      tokens.replaceRefusedToken(scope, refused).then(
        (t) => t?.token ?? 'none',
        (e: Error) => `failed: ${e.message}`,
      ),
    ),
  );
  return {
    refused,
    replacements: [...new Set(answers)],
    tokenRequests: tokens.getStats().tokenRequests - requestsBefore,
    servedAfter: (await tokens.getAccessToken(scope)).token,
  };
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});

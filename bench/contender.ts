/**
 * One contender of `npm run bench`, run in its own process (so contenders never share a heap or an
 * event loop) with NODE_EXTRA_CA_CERTS pointing at the local authority's CA, so raw msal-node and
 * @azure/identity use their default HTTP clients. Prints one JSON line of results.
 */
import { ClientSecretCredential } from '@azure/identity';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { Test } from '@nestjs/testing';
import { ClientCredentialsModule, TokenService } from '../libs/client-credentials/src';

export interface ContenderInput {
  name: 'floor' | 'ours' | 'msal' | 'identity';
  authorityUrl: string;
  tenantId: string;
  clientId: string;
  secret: string;
  /** Scopes of the cache-size runs are `api://bench-<i>/.default` for i below this. */
  scopeCount: number;
  sizes: number[];
  /** Scope for the cold-start run (nothing cached yet). */
  coldScope: string;
  coldCallers: number;
}

export interface ContenderResult {
  name: string;
  /** µs per cache hit, by number of cached entries. */
  hitMicros: Record<number, number>;
  coldErrors: number;
}

interface Client {
  get(scope: string): Promise<unknown>;
}

async function makeClient(
  input: ContenderInput,
): Promise<{ client: Client; close(): Promise<void> }> {
  const authority = `${input.authorityUrl}/${input.tenantId}`;
  const host = new URL(input.authorityUrl).host;
  switch (input.name) {
    case 'floor': {
      // The floor: an awaited Map.get with an expiry check, what any cache hit must at least cost.
      const map = new Map<string, { token: string; expiresOn: number }>();
      return {
        client: {
          async get(scope) {
            let e = map.get(scope);
            if (e === undefined || e.expiresOn <= Date.now()) {
              e = { token: scope, expiresOn: Date.now() + 3_600_000 };
              map.set(scope, e);
            }
            return e;
          },
        },
        close: async () => undefined,
      };
    }
    case 'ours': {
      const app = await (
        await Test.createTestingModule({
          imports: [
            ClientCredentialsModule.forRoot({
              credentials: {
                bench: {
                  tenantId: input.tenantId,
                  clientId: input.clientId,
                  authorityHost: input.authorityUrl,
                  sources: [{ type: 'secret', secret: input.secret }],
                },
              },
              cache: { maxEntries: 20_000 },
              logger: { log() {}, error() {}, warn() {} },
            }),
          ],
        }).compile()
      ).init();
      const tokens = app.get(TokenService);
      return { client: { get: (s) => tokens.getAccessToken(s) }, close: () => app.close() };
    }
    case 'msal': {
      const cca = new ConfidentialClientApplication({
        auth: {
          clientId: input.clientId,
          authority,
          knownAuthorities: [host],
          clientSecret: input.secret,
        },
      });
      return {
        client: { get: (s) => cca.acquireTokenByClientCredential({ scopes: [s] }) },
        close: async () => undefined,
      };
    }
    case 'identity': {
      const cred = new ClientSecretCredential(input.tenantId, input.clientId, input.secret, {
        authorityHost: input.authorityUrl,
        disableInstanceDiscovery: true,
      });
      return { client: { get: (s) => cred.getToken(s) }, close: async () => undefined };
    }
  }
}

/**
 * µs per call, cycling through `scopes` (every cached entry is hit, in turn) for at least 250 ms
 * per run; the median of 5 runs after a warm-up run.
 */
async function measureHits(client: Client, scopes: string[]): Promise<number> {
  const runs: number[] = [];
  for (let run = 0; run < 6; run++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    let elapsed: bigint;
    do {
      for (let i = 0; i < Math.max(scopes.length, 1000); i++)
        await client.get(scopes[i % scopes.length]);
      calls += Math.max(scopes.length, 1000);
      elapsed = process.hrtime.bigint() - start;
    } while (elapsed < 250_000_000n);
    if (run > 0) runs.push(Number(elapsed) / 1000 / calls); // the first run warms up
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)];
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]) as ContenderInput;
  const scopes = Array.from({ length: input.scopeCount }, (_, i) => `api://bench-${i}/.default`);
  const { client, close } = await makeClient(input);
  const result: ContenderResult = { name: input.name, hitMicros: {}, coldErrors: 0 };
  let filled = 0;
  for (const size of input.sizes) {
    // Fill the cache up to `size` entries with real tokens, 32 requests at a time.
    for (; filled < size; filled += 32) {
      await Promise.all(
        scopes.slice(filled, Math.min(size, filled + 32)).map((s) => client.get(s)),
      );
    }
    result.hitMicros[size] = await measureHits(client, scopes.slice(0, size));
  }
  if (input.coldCallers > 0) {
    const outcomes = await Promise.allSettled(
      Array.from({ length: input.coldCallers }, () => client.get(input.coldScope)),
    );
    result.coldErrors = outcomes.filter((o) => o.status === 'rejected').length;
  }
  await close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

/**
 * `npm run bench:calling`: the per-request cost of each way this library authenticates calls to an
 * API, against the same HTTP client with a hand-set `Authorization` header:
 *   - authenticated fetch (`createAuthenticatedFetch`) vs undici `fetch`;
 *   - the axios interceptor (`useClientCredentials`) vs the same axios instance's agent;
 *   - a named downstream API (`DownstreamApi.get` → parsed JSON) vs undici `fetch` + `JSON.parse`;
 *   - the Azure SDK `TokenCredential` (`getToken` before each request) vs undici `fetch`;
 *   - a DPoP credential's fetch vs a bearer one's, and a nonce rotation (bench/dpop-calls.ts).
 * Requests go to the local authority's demo API over HTTPS (which validates every token) with the
 * token already cached: what differs is our per-request work. Rounds of each pair alternate, and
 * the median round is kept, so that a noisy neighbour moves both sides. Prints Markdown.
 *
 *   npm run bench:calling                 # 10 rounds × 500 sequential requests per contender
 *   BENCH_SCALE=0.2 npm run bench:calling # fewer, for development
 */
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import axios, { type AxiosInstance } from 'axios';
import { Agent as HttpsAgent } from 'node:https';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority, type DevAuthority } from '../libs/dev-authority/src';
import { ClientCredentialsModule, TokenService } from '../libs/client-credentials/src';
import {
  createAuthenticatedFetch,
  createTokenCredential,
  type FetchFunction,
} from '../libs/client-credentials/src/calling';
import { useClientCredentials } from '../libs/client-credentials/src/calling/axios';
import { dpopRows } from './dpop-calls';
import {
  DownstreamApiModule,
  getDownstreamApiToken,
  type DownstreamApi,
} from '../libs/client-credentials/src/downstream-api';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ROUNDS = Math.max(3, Math.round(10 * Math.min(SCALE, 1)));
const REQUESTS = Math.max(50, Math.round(500 * SCALE));
/** Connections of every client: the downstream API's own pool size, so that all pools match. */
const CONNECTIONS = 16;

/** One request; resolves once the body is read. */
type Call = () => Promise<unknown>;

/** A row: the integration and its baseline on the same client. */
interface Pair {
  label: string;
  baseline: string;
  ours: Call;
  plain: Call;
}

async function main(): Promise<void> {
  const authority = await startDevAuthority();
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const { app, tokens } = await startApp(authority);
    closers.push(() => app.close());
    const url = `${authority.apiUrl}/data`;
    const scope = authority.apiScope;
    const ca = authority.caPem;
    // The token the baselines send by hand: the one the cache holds (no refresh in this run).
    const token = await tokens.getAccessToken(scope);
    const header = `${token.tokenType} ${token.token}`;

    const dispatcher = new Agent({ connections: CONNECTIONS, connect: { ca } });
    closers.push(() => dispatcher.close());
    const send = undiciFetch as unknown as FetchFunction;
    const plainFetch = async () => {
      const res = await undiciFetch(url, { dispatcher, headers: { authorization: header } });
      return res.json();
    };
    const authenticated = createAuthenticatedFetch(tokens, {
      baseUrl: authority.apiUrl,
      scopes: scope,
      fetch: send,
      dispatcher,
    });

    const agent = new HttpsAgent({ ca, keepAlive: true, maxSockets: CONNECTIONS });
    closers.push(async () => agent.destroy());
    const plainAxios: AxiosInstance = axios.create({ httpsAgent: agent });
    const ourAxios: AxiosInstance = axios.create({ httpsAgent: agent });
    useClientCredentials(ourAxios, tokens, { baseUrl: authority.apiUrl, scopes: scope });

    const api = app.get<DownstreamApi>(getDownstreamApiToken('demo'));
    // The downstream API's own kind of pool (undici, 16 connections) and its JSON parsing.
    const apiLike = new Agent({ connections: CONNECTIONS, connect: { ca } });
    closers.push(() => apiLike.close());

    const credential = createTokenCredential(tokens);

    const pairs: Pair[] = [
      {
        label: 'authenticated fetch (`createAuthenticatedFetch`)',
        baseline: 'undici `fetch`',
        plain: plainFetch,
        ours: async () => (await authenticated('data')).json(),
      },
      {
        label: 'axios interceptor (`useClientCredentials`)',
        baseline: 'the same axios agent',
        plain: async () =>
          (await plainAxios.get<unknown>(url, { headers: { authorization: header } })).data,
        ours: async () => (await ourAxios.get<unknown>(url)).data,
      },
      {
        label: 'named downstream API (`DownstreamApi.get`)',
        baseline: 'undici `fetch` + `JSON.parse`, same pool',
        plain: async () => {
          const res = await undiciFetch(url, {
            dispatcher: apiLike,
            headers: { authorization: header, accept: 'application/json' },
          });
          return JSON.parse(await res.text()) as unknown;
        },
        ours: () => api.get('data'),
      },
      {
        label: 'Azure `TokenCredential.getToken` + fetch',
        baseline: 'undici `fetch`',
        plain: plainFetch,
        ours: async () => {
          const t = await credential.getToken(scope);
          const res = await undiciFetch(url, {
            dispatcher,
            headers: { authorization: `Bearer ${t!.token}` },
          });
          return res.json();
        },
      },
    ];

    // Connections opened and code warmed before any measurement.
    for (const p of pairs) await Promise.all([repeat(p.plain, 200), repeat(p.ours, 200)]);
    const before = authority.countTokenRequests();
    const rows = [];
    for (const p of pairs) {
      const plain: number[] = [];
      const ours: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // Alternating order: neither side always runs on a warmer machine.
        if (r % 2 === 0) {
          plain.push(await perRequest(p.plain));
          ours.push(await perRequest(p.ours));
        } else {
          ours.push(await perRequest(p.ours));
          plain.push(await perRequest(p.plain));
        }
      }
      rows.push({ ...p, plainUs: median(plain), oursUs: median(ours) });
    }
    const tokenRequests = authority.countTokenRequests() - before;

    const out = [
      `# npm run bench:calling — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`,
      '',
      `Sequential GETs of the local authority's demo API over HTTPS (which checks each token), ` +
        `${CONNECTIONS} kept-alive connections per client, token cached; median of ${ROUNDS} rounds ` +
        `of ${REQUESTS} requests per side, rounds alternating. Token requests during the ` +
        `measurement: ${tokenRequests}.`,
      '',
      '| integration | baseline (same client, header set by hand) | baseline µs/request | integration µs/request | overhead µs | ratio |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
      ...rows.map(
        (r) =>
          `| ${r.label} | ${r.baseline} | ${r.plainUs.toFixed(0)} | ${r.oursUs.toFixed(0)} | ` +
          `${(r.oursUs - r.plainUs).toFixed(0)} | ${(r.oursUs / r.plainUs).toFixed(2)}× |`,
      ),
      '',
      `A cache hit alone (\`TokenService.getAccessToken\`): ${(await perCall(() => tokens.getAccessToken(scope))).toFixed(1)} µs.`,
    ];
    // The DPoP rows: the same alternating rounds, their own authority and APIs.
    const dpop = await dpopRows(async (plain, ours) => {
      for (let i = 0; i < 200; i++) await Promise.all([plain(), ours()]);
      const p: number[] = [];
      const o: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // Alternating order, as above.
        if (r % 2 === 0) {
          p.push(await perRequest(plain));
          o.push(await perRequest(ours));
        } else {
          o.push(await perRequest(ours));
          p.push(await perRequest(plain));
        }
      }
      return { plainUs: median(p), oursUs: median(o) };
    }, CONNECTIONS);
    out.splice(out.length - 2, 0, dpop[0]);
    out.push('', ...dpop.slice(2));
    console.log(out.join('\n'));
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await authority.close();
  }
}

/** A Nest app with one credential and the demo API as a named downstream API. */
async function startApp(
  authority: DevAuthority,
): Promise<{ app: INestApplicationContext; tokens: TokenService }> {
  const tenant = authority.createTenant();
  const reg = tenant.createApp();
  const secret = reg.addSecret();
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({
        isGlobal: true,
        credentials: {
          default: {
            tenantId: tenant.tenantId,
            clientId: reg.clientId,
            authorityHost: authority.url,
            ca: authority.caPem,
            sources: [{ type: 'secret', secret }],
          },
        },
        logger: { log() {}, error() {}, warn() {}, debug() {} },
      }),
      DownstreamApiModule.forRoot({
        apis: {
          demo: { baseUrl: authority.apiUrl, scopes: authority.apiScope, ca: authority.caPem },
        },
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  return { app, tokens: app.get(TokenService) };
}

/** Mean µs per request of {@link REQUESTS} sequential requests. */
async function perRequest(call: Call): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) await call();
  return Number(process.hrtime.bigint() - started) / 1000 / REQUESTS;
}

/** Mean µs of an in-process call (no I/O), over 20,000 calls. */
async function perCall(call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2000; i++) await call();
  const n = 20_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - started) / 1000 / n;
}

async function repeat(call: Call, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await call();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

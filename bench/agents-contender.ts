/**
 * The agent identities contender of `npm run bench` (run with --expose-gc, in its own process): a
 * blueprint credential of this library gets one token for each of N agent identities, 50 at a
 * time (the parent counts the requests of each leg at the authority), then cache hits by agent are
 * timed against the floor (an awaited Map.get over as many keys) and against plain hits (another
 * credential's tokens, one per tenant, as many), and the heap per agent — its two cached tokens and
 * whatever is kept for them — is measured.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ClientCredentialsModule, TokenService } from '../libs/client-credentials/src';
import { floor, median, timeRun, type Floor } from './contender';
import { contenderMain, pool } from './support';

export interface AgentsInput {
  kind: 'ours-ca';
  authorityUrl: string;
  caPem: string;
  tenantId: string;
  blueprintId: string;
  secret: string;
  scope: string;
  /** The agents' app ids. */
  agents: string[];
  /** A multi-tenant app of as many tenants: its hits by tenant are "any other hit" of that size. */
  plain: { clientId: string; secret: string; tenants: string[] };
}

export interface AgentsResult {
  /** Wall time of the cold sweep (every agent's first token), ms. */
  coldMs: number;
  coldFailures: number;
  hitMicros: number;
  floorMicros: number;
  /** µs of a plain hit (another credential's token by tenant) over as many cached tokens. */
  plainMicros: number;
  /** Agent hit ÷ floor, and ÷ plain hit: medians of pairs timed one right after the other. */
  ratio: number;
  plainRatio: number;
  /** Heap per agent after its first token: both legs cached, with everything kept for them. */
  bytesPerAgent: number;
}

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the contender with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function run(input: AgentsInput): Promise<AgentsResult> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({
        logger: silent,
        credentials: {
          fleet: {
            tenantId: input.tenantId,
            clientId: input.blueprintId,
            authorityHost: input.authorityUrl,
            ca: input.caPem,
            sources: [{ type: 'secret', secret: input.secret }],
            agentBlueprint: true,
          },
          plain: {
            tenantId: input.plain.tenants[0],
            clientId: input.plain.clientId,
            authorityHost: input.authorityUrl,
            ca: input.caPem,
            sources: [{ type: 'secret', secret: input.plain.secret }],
          },
        },
      }),
    ],
  }).compile();
  const app: INestApplicationContext = await moduleRef.init();
  const tokens = app.get(TokenService);
  const get = (agent: string) => tokens.getAccessToken(input.scope, { credential: 'fleet', agent });
  // One agent first: msal's and the library's code paths loaded before anything is measured.
  const [first, ...rest] = input.agents;
  await get(first);
  const before = heapUsed();
  const started = process.hrtime.bigint();
  const { failed } = await pool(rest, 50, get);
  const coldMs = Number(process.hrtime.bigint() - started) / 1e6;
  const bytesPerAgent = (heapUsed() - before) / rest.length;
  // Any other hit of that size: another credential's tokens, one per tenant.
  const plain = (tenantId: string) =>
    tokens.getAccessToken(input.scope, { credential: 'plain', tenantId });
  await pool(input.plain.tenants, 50, plain);
  // Hits by agent, in turn with the floor over as many keys and with the plain hits (6 rounds,
  // the first a warm-up).
  const agentHit: Floor = { get };
  const plainHit: Floor = { get: plain };
  const reference = floor();
  for (const a of input.agents) await reference.get(a);
  const rounds: { hit: number; floor: number; plain: number }[] = [];
  for (let i = 0; i < 6; i++) {
    const f = await timeRun(reference, input.agents);
    const h = await timeRun(agentHit, input.agents);
    const p = await timeRun(plainHit, input.plain.tenants);
    if (i > 0) rounds.push({ hit: h, floor: f, plain: p });
  }
  const sent = tokens.getStats('fleet').tokenRequests + tokens.getStats('plain').tokenRequests;
  if (sent !== 3 * input.agents.length) throw new Error(`hits sent token requests: ${sent}`);
  await app.close();
  return {
    coldMs,
    coldFailures: failed.length,
    hitMicros: median(rounds.map((r) => r.hit)),
    floorMicros: median(rounds.map((r) => r.floor)),
    plainMicros: median(rounds.map((r) => r.plain)),
    ratio: median(rounds.map((r) => r.hit / r.floor)),
    plainRatio: median(rounds.map((r) => r.hit / r.plain)),
    bytesPerAgent,
  };
}

if (require.main === module) contenderMain(run);

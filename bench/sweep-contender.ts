/**
 * One contender of the cold-sweep bench, in its own process: one token in each of `tenants` (a
 * multi-tenant app), nothing cached yet, `concurrency` at a time. Prints one JSON line of results.
 */
import { createPrivateKey, constants, randomUUID, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { makeClient, type BenchClient, type ClientConfig, type ContenderKind } from './clients';
import { contenderMain, phase, pool, watchLoop, type LoopDelay } from './support';

/** The sweep's contenders: the bench's four, and `wire`, the requests alone with no library. */
export type SweepKind = ContenderKind | 'wire';

export interface SweepInput extends Omit<ClientConfig, 'kind'> {
  kind: SweepKind;
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
  const client =
    input.kind === 'wire' ? wireClient(input) : await makeClient({ ...input, kind: input.kind });
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

/**
 * The floor of a sweep: what the requests alone cost, with no token library — a form POST per
 * token over one undici pool of 16 connections (this library's pool size), the authority trusted
 * through NODE_EXTRA_CA_CERTS, the JSON answer parsed and nothing else (no validation, no cache).
 * A certificate signs a PS256 assertion per request, as this library does.
 */
function wireClient(input: SweepInput): BenchClient {
  const agent = new Agent({ connections: 16 });
  const c = input.credential;
  const key = c.type === 'certificate' ? createPrivateKey(c.privateKeyPem) : undefined;
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const assertion = (audience: string): string => {
    if (c.type !== 'certificate' || key === undefined) throw new Error('not a certificate');
    const now = Math.floor(Date.now() / 1000);
    const x5t = Buffer.from(c.thumbprintSha256, 'hex').toString('base64url');
    const signed = `${part({ alg: 'PS256', typ: 'JWT', 'x5t#S256': x5t })}.${part({
      aud: audience,
      iss: input.clientId,
      sub: input.clientId,
      jti: randomUUID(),
      nbf: now,
      iat: now,
      exp: now + 600,
    })}`;
    const signature = sign('sha256', Buffer.from(signed), {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
    return `${signed}.${signature.toString('base64url')}`;
  };
  return {
    async get(scope, tenantId = input.tenantId) {
      const url = `${input.authorityUrl}/${tenantId}/oauth2/v2.0/token`;
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: input.clientId,
        scope,
      });
      if (c.type === 'secret') form.set('client_secret', c.secret);
      else {
        form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        form.set('client_assertion', assertion(url));
      }
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      const body = (await res.body.json()) as { access_token?: unknown };
      if (res.statusCode !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`HTTP ${res.statusCode}: ${JSON.stringify(body).slice(0, 200)}`);
      }
      return {};
    },
    close: () => agent.close(),
  };
}

if (require.main === module) contenderMain(run);

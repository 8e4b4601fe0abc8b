/**
 * The DPoP rows of `npm run bench:calling` (bench/integrations.ts):
 *   - what a DPoP-bound call costs over a bearer one, both through `createAuthenticatedFetch` with
 *     the token cached, to an API that answers without checking (the client's work only: the
 *     proof's signature, ES256, with the key made at start);
 *   - 1,000 concurrent calls across a nonce rotation at an API that verifies every proof
 *     (oauth4webapi): how many were re-sent, and how many token requests it cost.
 * Tokens come from oidc-provider with DPoP on (test/support/oidc-authority.ts).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Test } from '@nestjs/testing';
import { Agent, fetch as undiciFetch } from 'undici';
import { createCa, issueCertificate } from '../libs/dev-authority/src/pki';
import { ClientCredentialsModule, TokenService } from '../libs/client-credentials/src';
import {
  createAuthenticatedFetch,
  type FetchFunction,
} from '../libs/client-credentials/src/calling';
import { startOidcAuthority } from '../test/support/oidc-authority';
import { startDpopResource } from '../test/support/dpop-resource';

const SECRET = 'a-long-client-secret-value-0123456789';

/** One measured pair: µs per request of each side, the median of alternating rounds. */
export type Measure = (
  plain: () => Promise<unknown>,
  ours: () => Promise<unknown>,
) => Promise<{
  plainUs: number;
  oursUs: number;
}>;

/** Markdown lines: the overhead row and the nonce rotation line. */
export async function dpopRows(measure: Measure, connections: number): Promise<string[]> {
  const oidc = await startOidcAuthority(
    [
      {
        client_id: 'bearer-client',
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        client_id: 'dpop-client',
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_post',
        dpop_bound_access_tokens: true,
      },
    ],
    { dpop: { nonce: true } },
  );
  const closers: (() => Promise<unknown>)[] = [() => oidc.close()];
  try {
    const common = {
      authorityHost: oidc.authorityHost,
      tenantId: oidc.tenant,
      protocol: 'oidc' as const,
      ca: oidc.caPem,
      sources: [{ type: 'secret' as const, secret: SECRET }],
    };
    const moduleRef = await Test.createTestingModule({
      imports: [
        ClientCredentialsModule.forRoot({
          credentials: {
            bearer: { ...common, clientId: 'bearer-client' },
            dpop: { ...common, clientId: 'dpop-client', dpop: true },
          },
          defaultCredential: 'bearer',
          logger: { log() {}, error() {}, warn() {}, debug() {} },
        }),
      ],
    }).compile();
    const app = await moduleRef.init();
    closers.push(() => app.close());
    const tokens = app.get(TokenService);

    // An API that answers at once: what differs between the two sides is the client's work.
    const pki = await createCa('bench API CA');
    const tls = await issueCertificate({ subject: 'localhost', issuer: pki, kind: 'server' });
    const server = createServer({ key: tls.privateKeyPem, cert: tls.certificatePem }, (_, res) =>
      res.end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dispatcher = new Agent({ connections, connect: { ca: [pki.certificatePem] } });
    closers.push(() => dispatcher.close());
    const fetchAs = (credential: string) =>
      createAuthenticatedFetch(tokens, {
        baseUrl,
        scopes: oidc.scope,
        credential,
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });
    const bearer = fetchAs('bearer');
    const dpop = fetchAs('dpop');
    const { plainUs, oursUs } = await measure(
      async () => (await bearer('data')).json(),
      async () => (await dpop('data')).json(),
    );

    // 1,000 calls in flight when the API rotates its nonce.
    const api = await startDpopResource(oidc);
    closers.push(() => api.close());
    const verifying = new Agent({ connections, connect: { ca: [api.caPem] } });
    closers.push(() => verifying.close());
    const orders = createAuthenticatedFetch(tokens, {
      baseUrl: api.baseUrl,
      scopes: oidc.scope,
      credential: 'dpop',
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher: verifying,
    });
    await (await orders('warm')).body?.cancel();
    const tokenRequests = oidc.requests.length;
    const before = api.requests.length;
    api.rotateNonce();
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const res = await orders(`items/${i}`);
        await res.body?.cancel();
        return res.status;
      }),
    );
    const seen = api.requests.slice(before);
    const { warmUs, coldUs } = signatureCosts();
    return [
      `| authenticated fetch, DPoP credential (ES256 proof per request) | the same, bearer credential | ${plainUs.toFixed(0)} | ${oursUs.toFixed(0)} | ${(oursUs - plainUs).toFixed(0)} | ${(oursUs / plainUs).toFixed(2)}× |`,
      '',
      `DPoP nonce rotation at an API that verifies every proof (oauth4webapi): 1,000 concurrent ` +
        `calls → ${statuses.filter((s) => s === 200).length} answered 200, ` +
        `${seen.filter((r) => r.error === 'nonce').length} re-sent with the new nonce, ` +
        `${oidc.requests.length - tokenRequests} token requests.`,
      '',
      `An ES256 signature alone (node:crypto, the key prepared once, a proof's ~600 bytes): ` +
        `${warmUs.toFixed(0)} µs in a loop of signatures; ${coldUs.toFixed(0)} µs each when 8 MB ` +
        `of other memory is touched between two (the CPU caches cold, as amid HTTP work).`,
    ];
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}

/**
 * µs per ES256 signature in a loop, and with the CPU caches flushed between signatures: what a
 * proof's signature costs amid a request's other work (OpenSSL's code and tables fetched again).
 */
function signatureCosts(): { warmUs: number; coldUs: number } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(600, 0x41);
  const other = new Uint8Array(8 << 20);
  const once = (): bigint => {
    const started = process.hrtime.bigint();
    sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return process.hrtime.bigint() - started;
  };
  const n = 2000;
  let warm = 0n;
  let cold = 0n;
  for (let i = 0; i < 200; i++) once();
  for (let i = 0; i < n; i++) warm += once();
  for (let i = 0; i < n; i++) {
    // One write per 64-byte line: every line of `other` passes through the caches.
    for (let j = 0; j < other.length; j += 64) other[j]++;
    cold += once();
  }
  return { warmUs: Number(warm) / n / 1000, coldUs: Number(cold) / n / 1000 };
}

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import axios, { type AxiosError, type AxiosInstance } from 'axios';
import { decodeJwt } from 'jose';
import { Agent } from 'undici';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { undiciFetchAdapter } from '../support/axios-fetch-adapter';
import { startOidcAuthority, type OidcAuthority } from '../support/oidc-authority';
import { startTokenApp, type TokenApp } from '../support/token-app';
import { releaseAll } from '../support/fixtures';
import { createTestPki, type TestPki } from './recording-server';

const SECRET = 'a-long-client-secret-value-0123456789';
const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** One request a server received: which hop got which token scheme and proof. */
interface Hop {
  server: 'api' | 'other';
  method: string;
  path: string;
  body: string;
  cookie?: string;
  proxyAuthorization?: string;
  authorization?: string;
  proof?: { htm: string; htu: string; jti: string; ath: string; nonce?: string };
}

/**
 * An API that checks DPoP proofs as a resource server does (htm, htu, ath, one use of each jti;
 * the token's own check is dpop.e2e-spec's) and redirects: `/api/same` → `/api/target`,
 * `/api/away` → the other origin, `/api/see-other` 303 and `/api/temporary` 307 → `/api/target`,
 * `/api/loop` → itself, `/api/items` → `/api/items/`, `/api/rotate` 303 → `/api/nonced` with a
 * new `DPoP-Nonce` that `/api/nonced` requires; tokens in `revoked`, and any at `/api/refused`,
 * are refused.
 */
async function startServers(pki: TestPki, hops: Hop[], revoked: Set<string>) {
  const servers: Server[] = [];
  const listen = async (
    name: Hop['server'],
    answer: (req: Hop, token?: string) => [number, Record<string, string>],
  ) => {
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const proof = req.headers.dpop as string | undefined;
          const hop: Hop = {
            server: name,
            method: req.method!,
            path: req.url!,
            body: Buffer.concat(chunks).toString(),
            authorization: req.headers.authorization,
            cookie: req.headers.cookie,
            proxyAuthorization: req.headers['proxy-authorization'],
            proof: proof === undefined ? undefined : decodeJwt<NonNullable<Hop['proof']>>(proof),
          };
          hops.push(hop);
          const [status, headers] = answer(hop, req.headers.authorization?.replace(/^DPoP /, ''));
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(status === 200 ? JSON.stringify({ ok: true, path: hop.path }) : '');
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const jtis = new Set<string>();
  let nonces = 0;
  const other = await listen('other', () => [200, {}]);
  const api: string = await listen('api', (hop, token) => {
    const { proof } = hop;
    if (token === undefined || proof === undefined) return [401, { 'www-authenticate': 'DPoP' }];
    if (revoked.has(token) || hop.path === '/api/refused')
      return [401, { 'www-authenticate': 'DPoP error="invalid_token"' }];
    const valid =
      proof.htm === hop.method &&
      proof.htu === `${api}${hop.path}` &&
      proof.ath === sha256(token) &&
      !jtis.has(proof.jti);
    jtis.add(proof.jti);
    if (!valid) return [401, { 'www-authenticate': 'DPoP error="invalid_dpop_proof"' }];
    if (hop.path === '/api/rotate') {
      return [303, { location: '/api/nonced', 'dpop-nonce': `n-${++nonces}` }];
    }
    if (hop.path === '/api/nonced' && proof.nonce !== `n-${nonces}`) {
      return [
        401,
        { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': `n-${nonces}` },
      ];
    }
    const to: Record<string, [number, string]> = {
      '/api/same': [302, '/api/target'],
      '/api/away': [302, `${other}/collect`],
      '/api/see-other': [303, '/api/target'],
      '/api/temporary': [307, '/api/target'],
      '/api/loop': [302, '/api/loop'],
      '/api/items': [302, '/api/items/'],
    };
    const redirect = to[hop.path];
    return redirect === undefined ? [200, {}] : [redirect[0], { location: redirect[1] }];
  });
  return {
    api,
    other,
    close: async () => {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/**
 * A DPoP-bound call through axios follows redirects the way fetch and the downstream APIs do,
 * under either adapter: a proof of each hop (its method and URL) to the API's origin, neither the
 * token nor a proof to another origin; and what axios hands back shows no token.
 */
describe('axios interceptor: DPoP-bound calls across redirects', () => {
  let oidc: OidcAuthority;
  let app: TokenApp;
  let servers: Awaited<ReturnType<typeof startServers>>;
  let pki: TestPki;
  let dispatcher: Agent;
  const hops: Hop[] = [];
  const revoked = new Set<string>();

  beforeAll(async () => {
    oidc = await startOidcAuthority(
      [
        {
          client_id: 'dpop-client',
          client_secret: SECRET,
          token_endpoint_auth_method: 'client_secret_post',
          dpop_bound_access_tokens: true,
        },
      ],
      { dpop: {} },
    );
    pki = await createTestPki();
    servers = await startServers(pki, hops, revoked);
    const credential = {
      authorityHost: oidc.authorityHost,
      tenantId: oidc.tenant,
      protocol: 'oidc' as const,
      ca: oidc.caPem,
      clientId: 'dpop-client',
      sources: [{ type: 'secret' as const, secret: SECRET }],
      dpop: true,
    };
    // One credential per adapter: a replacement token refused at once is held off (10 s).
    app = await startTokenApp({ credentials: { http: credential, fetch: credential } });
    dispatcher = new Agent({ connect: { ca: [pki.caPem] } });
  });
  afterAll(() => releaseAll(app, dispatcher, servers, oidc));
  beforeEach(() => {
    hops.length = 0;
  });

  const client = (
    adapter: 'http' | 'fetch',
    extra: Record<string, unknown> = {},
  ): AxiosInstance => {
    const instance =
      adapter === 'http'
        ? axios.create({
            adapter,
            baseURL: servers.api,
            httpsAgent: new https.Agent({ ca: pki.caPem }),
            ...extra,
          })
        : axios.create({ ...undiciFetchAdapter(dispatcher), baseURL: servers.api, ...extra });
    useClientCredentials(instance, app.tokens, {
      baseUrl: `${servers.api}/api`,
      scopes: oidc.scope,
      credential: adapter,
    });
    return instance;
  };
  const proofOf = (path: string) => hops.find((h) => h.path === path)?.proof;

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter} adapter: a fresh proof of each hop to the API, nothing to another origin`, async () => {
      const instance = client(adapter);
      await expect(instance.get(`${servers.api}/api/same`)).resolves.toMatchObject({
        status: 200,
        data: { path: '/api/target' },
      });
      expect(hops.map((h) => [h.path, h.proof?.htm, h.proof?.htu])).toEqual([
        ['/api/same', 'GET', `${servers.api}/api/same`],
        ['/api/target', 'GET', `${servers.api}/api/target`],
      ]);
      expect(proofOf('/api/same')!.jti).not.toBe(proofOf('/api/target')!.jti);

      await expect(instance.get('/api/away')).resolves.toMatchObject({ status: 200 });
      const away = hops.find((h) => h.server === 'other')!;
      expect(away).toMatchObject({ path: '/collect', authorization: undefined, proof: undefined });
    });
  }

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter} adapter: a redirect to another origin drops the app's Cookie and Proxy-Authorization`, async () => {
      const instance = client(adapter);
      await instance.get('/api/away', {
        headers: { Cookie: 'session=SECRET-SESSION', 'Proxy-Authorization': 'Basic c2VjcmV0' },
      });
      expect(hops.find((h) => h.server === 'api')).toMatchObject({
        cookie: 'session=SECRET-SESSION',
        proxyAuthorization: 'Basic c2VjcmV0',
      });
      // As fetch and follow-redirects do: another origin gets none of this one's credentials.
      expect(hops.find((h) => h.server === 'other')).toMatchObject({
        authorization: undefined,
        cookie: undefined,
        proxyAuthorization: undefined,
      });
    });
  }

  it('fetch adapter: 303 turns a POST into a GET without body, 307 keeps both, each with its proof', async () => {
    const instance = client('fetch');
    await expect(instance.post('/api/see-other', { a: 1 })).resolves.toMatchObject({ status: 200 });
    await expect(instance.post('/api/temporary', { b: 2 })).resolves.toMatchObject({ status: 200 });
    expect(hops.map((h) => [h.method, h.path, h.body, h.proof?.htm])).toEqual([
      ['POST', '/api/see-other', '{"a":1}', 'POST'],
      ['GET', '/api/target', '', 'GET'],
      ['POST', '/api/temporary', '{"b":2}', 'POST'],
      ['POST', '/api/target', '{"b":2}', 'POST'],
    ]);
  });

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter} adapter: a DPoP-Nonce a 303 rotates signs the next hop's proof; the POST is sent once`, async () => {
      const res = await client(adapter).post('/api/rotate', { order: 1 });
      expect(res).toMatchObject({ status: 200, data: { path: '/api/nonced' } });
      expect(hops.map((h) => [h.method, h.path, h.proof?.nonce])).toEqual([
        ['POST', '/api/rotate', undefined],
        ['GET', '/api/nonced', expect.stringMatching(/^n-\d+$/)],
      ]);
    });
  }

  it("fetch adapter: maxRedirects bounds the hops; the app's maxRedirects: 0 gets the 3xx untouched", async () => {
    const accept = { validateStatus: () => true };
    const untouched = await client('fetch', { maxRedirects: 0 }).get('/api/same', accept);
    expect(untouched).toMatchObject({ status: 302, headers: { location: '/api/target' } });
    expect(hops.map((h) => h.path)).toEqual(['/api/same']);

    hops.length = 0;
    const looped = await client('fetch', { maxRedirects: 3 }).get('/api/loop', accept);
    expect(looped.status).toBe(302);
    // The first request and three redirects followed, each proof accepted.
    expect(hops.map((h) => h.path)).toEqual(Array.from({ length: 4 }, () => '/api/loop'));
    expect(new Set(hops.map((h) => h.proof?.jti)).size).toBe(4);
  });

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter} adapter: a call re-sent after invalid_token follows a redirect with proofs of the new token, the app's hook once per hop`, async () => {
      const refused = await app.tokens.getAccessToken(oidc.scope, { credential: adapter });
      revoked.add(refused.token);
      let hooked = 0;
      const instance = client(adapter, { beforeRedirect: () => void hooked++ });
      const res = await instance.get('/api/items');
      expect(res).toMatchObject({ status: 200, data: { path: '/api/items/' } });
      const fresh = hops[hops.length - 1].authorization!.replace(/^DPoP /, '');
      expect(fresh).not.toBe(refused.token);
      expect(hops.map((h) => [h.path, h.proof?.ath])).toEqual([
        ['/api/items', sha256(refused.token)],
        ['/api/items', sha256(fresh)],
        ['/api/items/', sha256(fresh)],
      ]);
      // follow-redirects calls the hook (the fetch adapter's hops are the interceptor's).
      expect(hooked).toBe(adapter === 'http' ? 1 : 0);
    });
  }

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter} adapter: the error and the response handed back show neither the token nor its proof`, async () => {
      const instance = client(adapter);
      const ok = await instance.get('/api/target');
      expect(ok.config.headers.Authorization).toBe('DPoP [redacted]');
      expect(ok.config.headers.DPoP).toBeUndefined();

      // Every token refused: the re-sent call's 401 is the app's error.
      const error = await instance.get('/api/refused').then(
        () => undefined,
        (e: AxiosError) => e,
      );
      const token = hops[hops.length - 1].authorization!.replace(/^DPoP /, '');
      expect(error?.response?.status).toBe(401);
      expect(error?.config?.headers.Authorization).toBe('DPoP [redacted]');
      expect(error?.config?.headers.DPoP).toBeUndefined();
      // The whole error under the fetch adapter; under the http adapter its config's headers (the
      // error also reaches the agent's socket, whose raw request is Node's: see calling-apis.md).
      const { config } = error!.toJSON() as { config: { headers: unknown } };
      const shown =
        (adapter === 'fetch' ? JSON.stringify(error) : JSON.stringify(config.headers)) +
        inspect(error!.config!.headers);
      expect(shown).not.toContain(token);
      expect(shown).not.toMatch(/eyJ[\w-]+\.eyJ/);
    });
  }
});

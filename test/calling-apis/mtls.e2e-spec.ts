import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { decodeJwt, exportJWK, importX509 } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { TokenService, type CredentialOptions } from '@app/client-credentials';
import { createAuthenticatedFetch, createTokenCredential } from '@app/client-credentials/calling';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { DownstreamApiModule, DownstreamApis } from '@app/client-credentials/downstream-api';
import { createCa, issueCertificate, type IssuedCertificate } from '@app/dev-authority/pki';
import { undiciFetchAdapter } from '../support/axios-fetch-adapter';
import { startOidcAuthority, type OidcAuthority } from '../support/oidc-authority';
import { startMtlsResource, type MtlsResource } from '../support/mtls-resource';
import { certificateThumbprint, peerCertificate } from '../support/tls-client-certificate';
import { startTokenApp, type TokenApp } from '../support/token-app';
import { releaseAll } from '../support/fixtures';
import { startConnectProxy } from '../support/connect-proxy';
import { createTestPki, type TestPki } from './recording-server';

const thumbprintOf = (c: IssuedCertificate) =>
  certificateThumbprint(new X509Certificate(c.certificatePem));

/** A self-signed certificate's entry in a client's registered `jwks` (RFC 8705 §2.2). */
async function jwkOf(c: IssuedCertificate): Promise<object> {
  const der = new X509Certificate(c.certificatePem).raw.toString('base64');
  return { ...(await exportJWK(await importX509(c.certificatePem, 'RS256'))), x5c: [der] };
}

/**
 * mTLS (RFC 8705) end to end: oidc-provider (a certified authorization server, features.mTLS)
 * authenticates the clients by the certificate of the TLS handshake at its mTLS alias
 * (`tls_client_auth` against a CA, `self_signed_tls_client_auth` against registered certificates)
 * and binds their tokens to it (`cnf.x5t#S256`); a resource server checking the binding against
 * the certificate its connection presented accepts the calls of every integration and refuses a
 * stolen token.
 */
describe('certificate-bound tokens (RFC 8705), from the token endpoint to the API call', () => {
  let oidc: OidcAuthority;
  let api: MtlsResource;
  let app: TokenApp;
  let dir: string;
  let clientCa: IssuedCertificate;
  let issued: IssuedCertificate;
  let selfSigned: [IssuedCertificate, IssuedCertificate];
  /** The `tls` credential of the app: `tls_client_auth` with `issued`, bound tokens. */
  let tlsCredential: CredentialOptions;
  const ofClient = (id: string) => oidc.requests.filter((r) => r.clientId === id);

  beforeAll(async () => {
    clientCa = await createCa('mTLS clients test CA');
    [issued, ...selfSigned] = await Promise.all([
      issueCertificate({ subject: 'CN=orders-sync', issuer: clientCa, kind: 'client' }),
      createCa('orders-sync self-signed 1'),
      createCa('orders-sync self-signed 2'),
    ]);
    const unboundCertificate = await issueCertificate({
      subject: 'CN=unbound',
      issuer: clientCa,
      kind: 'client',
    });
    oidc = await startOidcAuthority(
      [
        {
          client_id: 'tls-client',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=orders-sync',
          tls_client_certificate_bound_access_tokens: true,
        },
        {
          client_id: 'self-signed-client',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: await Promise.all(selfSigned.map(jwkOf)) },
          tls_client_certificate_bound_access_tokens: true,
        },
        {
          client_id: 'unbound-client',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=unbound',
        },
      ],
      { mtls: { clientCa: clientCa.certificatePem } },
    );
    api = await startMtlsResource(oidc);
    dir = await mkdtemp(join(tmpdir(), 'mtls-e2e-'));
    await writeFile(
      join(dir, 'cert.pem'),
      selfSigned[0].certificatePem + selfSigned[0].privateKeyPem,
    );
    const common = {
      authorityHost: oidc.authorityHost,
      tenantId: oidc.tenant,
      protocol: 'oidc' as const,
      ca: oidc.caPem,
      mtls: true,
    };
    const inline = (c: IssuedCertificate) => [
      { type: 'certificate' as const, certificate: c.certificatePem, privateKey: c.privateKeyPem },
    ];
    tlsCredential = { ...common, clientId: 'tls-client', sources: inline(issued) };
    app = await startTokenApp(
      {
        isGlobal: true,
        defaultCredential: 'tls',
        credentials: {
          tls: tlsCredential,
          self: {
            ...common,
            clientId: 'self-signed-client',
            sources: [{ type: 'certificate', certificatePath: join(dir, 'cert.pem') }],
          },
          unbound: { ...common, clientId: 'unbound-client', sources: inline(unboundCertificate) },
        },
      },
      [
        DownstreamApiModule.forRoot({
          apis: { orders: { baseUrl: api.baseUrl, scopes: oidc.scope, ca: api.caPem } },
        }),
      ],
    );
  });
  afterAll(async () => {
    await releaseAll(app, api, oidc);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('gets a token at the mTLS alias, authenticated and bound by the certificate of the handshake', async () => {
    const token = await app.tokens.getAccessToken(oidc.scope);
    expect(token.tokenType).toBe('Bearer');
    expect(token.certificateThumbprint).toBe(thumbprintOf(issued));
    expect(decodeJwt(token.token).cnf).toEqual({ 'x5t#S256': thumbprintOf(issued) });
    expect(app.tokens.tokenBinding()).toBe('mtls');
    // The alias of the discovery document, presenting the certificate: the plain endpoint asks
    // for none, and tls_client_auth would fail there.
    expect(oidc.tokenRequests).toEqual([{ listener: 'mtls', certificate: thumbprintOf(issued) }]);
    expect(ofClient('tls-client')).toEqual([{ clientId: 'tls-client', ok: true }]);
    // Cached like any token: no second request.
    await expect(app.tokens.getAccessToken(oidc.scope)).resolves.toMatchObject({
      token: token.token,
      source: 'cache',
    });
    expect(oidc.tokenRequests).toHaveLength(1);
  });

  it('calls the API through fetch, axios and a downstream API over connections presenting the certificate', async () => {
    const before = api.requests.length;
    // The global fetch, with the certificate's dispatcher.
    const orders = createAuthenticatedFetch(app.tokens, {
      baseUrl: api.baseUrl,
      scopes: oidc.scope,
      ca: api.caPem,
    });
    const res = await orders('items?top=1');
    await expect(res.json()).resolves.toMatchObject({ ok: true, bound: thumbprintOf(issued) });

    const instance = axios.create({
      httpsAgent: new https.Agent({ ca: api.caPem, keepAlive: false }),
    });
    const eject = useClientCredentials(instance, app.tokens, {
      baseUrl: api.baseUrl,
      scopes: oidc.scope,
    });
    await expect(instance.post(`${api.baseUrl}/items`, { a: 1 })).resolves.toMatchObject({
      data: { ok: true },
    });
    eject();

    const downstream = app.app.get(DownstreamApis).get('orders');
    await expect(downstream.get('items')).resolves.toMatchObject({ ok: true });
    expect(api.requests.slice(before)).toEqual(
      Array.from({ length: 3 }, () => ({ status: 200, certificate: thumbprintOf(issued) })),
    );
    expect(oidc.tokenRequests).toHaveLength(1);
  });

  it('refuses a stolen token on a connection without the certificate, or with another one', async () => {
    const token = await app.tokens.getAccessToken(oidc.scope);
    const url = `${api.baseUrl}/items`;
    const headers = app.tokens.requestHeaders(token, { method: 'GET', url });
    const thief = await createCa('a thief');
    const without = new Agent({ connect: { ca: [api.caPem] } });
    const another = new Agent({
      connect: { ca: [api.caPem], cert: thief.certificatePem, key: thief.privateKeyPem },
    });
    try {
      const status = (dispatcher: unknown) =>
        undiciFetch(url, { headers: { ...headers }, dispatcher: dispatcher as Agent }).then(
          async (r) => {
            await r.body?.cancel();
            return r.status;
          },
        );
      expect(await status(without)).toBe(401);
      expect(await status(another)).toBe(401);
      // By hand, as the integrations do: the certificate the token is bound to.
      expect(await status(app.tokens.boundCertificate(token)!.dispatcher({ ca: api.caPem }))).toBe(
        200,
      );
      expect(api.requests.slice(-3).map((r) => r.error ?? 'ok')).toEqual([
        'the token is bound to a certificate the connection did not present',
        'the token is bound to another certificate than the one presented',
        'ok',
      ]);
    } finally {
      await Promise.all([without.close(), another.close()]);
    }
  });

  it('gets a new token bound to a rotated certificate; the old token keeps presenting its own', async () => {
    const self = { credential: 'self' };
    const old = await app.tokens.getAccessToken(oidc.scope, self);
    expect(decodeJwt(old.token).cnf).toEqual({ 'x5t#S256': thumbprintOf(selfSigned[0]) });
    const requests = oidc.tokenRequests.length;

    // Replaced as a secret volume does: a new file renamed over the old one.
    const next = join(dir, 'cert.pem.new');
    await writeFile(next, selfSigned[1].certificatePem + selfSigned[1].privateKeyPem);
    await rename(next, join(dir, 'cert.pem'));
    const rotated = await app.tokens.getAccessToken(oidc.scope, { ...self, forceRefresh: true });
    expect(rotated.token).not.toBe(old.token);
    expect(rotated.certificateThumbprint).toBe(thumbprintOf(selfSigned[1]));
    expect(decodeJwt(rotated.token).cnf).toEqual({ 'x5t#S256': thumbprintOf(selfSigned[1]) });
    expect(oidc.tokenRequests.slice(requests)).toEqual([
      { listener: 'mtls', certificate: thumbprintOf(selfSigned[1]) },
    ]);

    const orders = createAuthenticatedFetch(app.tokens, {
      baseUrl: api.baseUrl,
      scopes: oidc.scope,
      credential: 'self',
      ca: api.caPem,
      fetch: undiciFetch as never,
    });
    const res = await orders('items');
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(api.requests.at(-1)).toEqual({ status: 200, certificate: thumbprintOf(selfSigned[1]) });
    // A token issued before the rotation still goes with the certificate it is bound to.
    const byHand = await undiciFetch(`${api.baseUrl}/items`, {
      headers: { ...app.tokens.requestHeaders(old, { method: 'GET', url: api.baseUrl }) },
      dispatcher: app.tokens.boundCertificate(old)!.dispatcher({ ca: api.caPem }),
    });
    expect(byHand.status).toBe(200);
    await byHand.body?.cancel();
    expect(api.requests.at(-1)).toEqual({ status: 200, certificate: thumbprintOf(selfSigned[0]) });
  });

  it('shares tokens through the store with replicas of the same certificate only', async () => {
    const store = createCache({ stores: [new Keyv()] });
    const another = await issueCertificate({
      subject: 'CN=orders-sync',
      issuer: clientCa,
      kind: 'client',
    });
    const replica = (certificate: IssuedCertificate) =>
      startTokenApp({
        cache: { store },
        credentials: {
          tls: {
            authorityHost: oidc.authorityHost,
            tenantId: oidc.tenant,
            protocol: 'oidc',
            ca: oidc.caPem,
            clientId: 'tls-client',
            mtls: true,
            sources: [
              {
                type: 'certificate',
                certificate: certificate.certificatePem,
                privateKey: certificate.privateKeyPem,
              },
            ],
          },
        },
      });
    const replicas = [await replica(issued), await replica(issued), await replica(another)];
    try {
      const requests = oidc.tokenRequests.length;
      const tokens = [];
      for (const r of replicas) tokens.push(await r.tokens.getAccessToken(oidc.scope));
      // The second replica adopts the first one's token (same certificate: same store key); the
      // third, with a certificate of its own, gets a token bound to it.
      expect(tokens[1].token).toBe(tokens[0].token);
      expect(tokens[1].certificateThumbprint).toBe(thumbprintOf(issued));
      expect(tokens[2].token).not.toBe(tokens[0].token);
      expect(tokens[2].certificateThumbprint).toBe(thumbprintOf(another));
      expect(oidc.tokenRequests.slice(requests)).toEqual([
        { listener: 'mtls', certificate: thumbprintOf(issued) },
        { listener: 'mtls', certificate: thumbprintOf(another) },
      ]);
      // The adopted token goes with its certificate, held by the replica that adopted it.
      expect(replicas[1].tokens.boundCertificate(tokens[1])?.thumbprint).toBe(thumbprintOf(issued));
    } finally {
      await releaseAll(...replicas);
    }
  });

  it('refuses a token the authority did not bind to the certificate, and caches none', async () => {
    for (let i = 0; i < 2; i++) {
      await expect(
        app.tokens.getAccessToken(oidc.scope, { credential: 'unbound' }),
      ).rejects.toMatchObject({
        code: 'binding_refused',
        message: expect.stringMatching(/names no certificate/),
      });
    }
    // One request, which the authority answered: the refusal is remembered for the source's
    // cool-down as any rejection, and no token was kept to serve.
    expect(ofClient('unbound-client')).toEqual([{ clientId: 'unbound-client', ok: true }]);
    expect(app.tokens.getStats('unbound')).toMatchObject({ cacheHits: 0 });
  });

  it('refuses to hand a certificate-bound token to a path that would send it without the certificate', async () => {
    const count = oidc.tokenRequests.length;
    await expect(app.tokens.getAuthorizationHeader(oidc.scope)).rejects.toMatchObject({
      code: 'proof_required',
    });
    const credential = createTokenCredential(app.tokens, { credential: 'self' });
    await expect(credential.getToken(oidc.scope)).rejects.toMatchObject({
      code: 'proof_required',
    });
    expect(oidc.tokenRequests.length).toBe(count);
    // Nothing of the private keys in what a log or debugger shows.
    const token = await app.tokens.getAccessToken(oidc.scope);
    const shown = JSON.stringify([app.tokens, app.tokens.boundCertificate(token), token]);
    expect(shown).not.toMatch(/PRIVATE KEY|"d":/);
    expect(shown).toContain(thumbprintOf(issued));
    expect(app.app.get(TokenService)).toBe(app.tokens);
  });

  it("axios's fetch adapter: a redirect to another origin goes without the token, over the app's dispatcher, not the certificate's", async () => {
    const seen: { server: string; path?: string; scheme?: string; certificate?: string }[] = [];
    // Two origins of two CAs: the certificate's connections trust the API's only (`ca`), the
    // app's dispatcher the other's only — a hop sent the wrong way fails its TLS handshake.
    const serve = async (server: string, pki: TestPki, to?: () => string) => {
      const listener = https.createServer(
        {
          cert: pki.certificatePem,
          key: pki.privateKeyPem,
          requestCert: true,
          rejectUnauthorized: false,
        },
        (req, res) => {
          const presented = peerCertificate(req.socket);
          seen.push({
            server,
            path: req.url,
            scheme: req.headers.authorization?.split(' ')[0],
            certificate: presented && certificateThumbprint(presented),
          });
          res.writeHead(to === undefined ? 200 : 302, to === undefined ? {} : { location: to() });
          res.end(to === undefined ? '{"ok":true}' : '');
        },
      );
      await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
      return {
        url: `https://127.0.0.1:${(listener.address() as { port: number }).port}`,
        close: () => {
          listener.closeAllConnections();
          return new Promise((r) => listener.close(r));
        },
      };
    };
    const [apiPki, otherPki] = await Promise.all([createTestPki(), createTestPki()]);
    const other = await serve('other', otherPki);
    const origin = await serve('api', apiPki, () => `${other.url}/collect`);
    const dispatcher = new Agent({ connect: { ca: [otherPki.caPem] } });
    try {
      const instance = axios.create(undiciFetchAdapter(dispatcher));
      useClientCredentials(instance, app.tokens, {
        baseUrl: origin.url,
        scopes: oidc.scope,
        ca: apiPki.caPem,
      });
      await expect(instance.get(`${origin.url}/go`)).resolves.toMatchObject({ data: { ok: true } });
      expect(seen).toEqual([
        { server: 'api', path: '/go', scheme: 'Bearer', certificate: thumbprintOf(issued) },
        { server: 'other', path: '/collect', scheme: undefined, certificate: undefined },
      ]);
    } finally {
      await releaseAll(dispatcher, origin, other);
    }
  });

  it("goes through the credential's proxy to the API too: the token request and the API call presenting the certificate", async () => {
    const proxy = await startConnectProxy();
    const proxied = await startTokenApp({
      credentials: { tls: { ...tlsCredential, proxy: proxy.url } },
    });
    try {
      const before = api.requests.length;
      const orders = createAuthenticatedFetch(proxied.tokens, {
        baseUrl: api.baseUrl,
        scopes: oidc.scope,
        ca: api.caPem,
      });
      const res = await orders('items?top=1');
      await expect(res.json()).resolves.toMatchObject({ ok: true, bound: thumbprintOf(issued) });
      await proxy.settle();

      // One tunnel to the authority's mTLS listener, one to the API, both presenting the
      // certificate inside the tunnel.
      expect(api.requests.slice(before)).toEqual([
        { status: 200, certificate: thumbprintOf(issued) },
      ]);
      expect(proxy.tunnels).toContain(new URL(api.baseUrl).host);
      expect(proxy.tunnels.filter((t) => t !== new URL(api.baseUrl).host).length).toBeGreaterThan(
        0,
      );
    } finally {
      await releaseAll(proxied, proxy);
    }
  });
});

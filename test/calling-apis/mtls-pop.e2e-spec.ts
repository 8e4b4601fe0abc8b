import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { decodeJwt } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority, type App, type SniCertificate } from '@app/dev-authority';
import { createAuthenticatedFetch, createTokenCredential } from '@app/client-credentials/calling';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { DownstreamApiModule, DownstreamApis } from '@app/client-credentials/downstream-api';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { certificateThumbprint, peerCertificate } from '../support/tls-client-certificate';
import { createTestPki } from './recording-server';

const [authority] = useFixtures(startDevAuthority);

const thumbprintOf = (certificate: SniCertificate) =>
  createHash('sha256')
    .update(new X509Certificate(certificate.certificatePem).raw)
    .digest('base64url');

/**
 * Entra ID's mTLS proof of possession (a preview of Entra's), as MSAL .NET's
 * `WithMtlsProofOfPossession` does it, against the local authority's mTLS listener: the subject
 * name + issuer certificate authenticates the app in the TLS handshake (Node's own check of the
 * chain to the SN+I root), `token_type=mtls_pop` binds the token to it, and the demo API takes
 * it as `Authorization: mtls_pop` over a connection presenting that certificate only.
 */
describe('Entra mTLS PoP: mtls_pop tokens from the mTLS endpoint to the API call', () => {
  let app: TokenApp;
  let registered: App;
  let sni: SniCertificate;
  let api: string;
  /** The app's token store, shared with a replica of the migration case. */
  const store = createCache({ stores: [new Keyv()] });
  /** An app registration whose credential moves to mTLS, its certificate as a source. */
  let migrating: { app: App; source: Record<string, unknown> };
  let dir: string;

  beforeAll(async () => {
    const tenant = authority.createTenant();
    registered = tenant.createApp();
    sni = await registered.addSniCertificate();
    const migratingApp = tenant.createApp();
    const migratingSni = await migratingApp.addSniCertificate();
    migrating = {
      app: migratingApp,
      source: {
        type: 'certificate',
        certificate: migratingSni.chainPem,
        privateKey: migratingSni.privateKeyPem,
        sendX5c: true,
      },
    };
    dir = await mkdtemp(join(tmpdir(), 'mtls-pop-'));
    // Another app's SN+I certificate: chained to the trusted root, its subject not this app's.
    const stranger = await tenant.createApp().addSniCertificate();
    api = `${authority.mtlsUrl}/api`;
    const bound = (certificate: SniCertificate) => ({
      ...localCredential(authority, tenant.tenantId, registered.clientId, [
        {
          type: 'certificate',
          certificate: certificate.chainPem,
          privateKey: certificate.privateKeyPem,
          sendX5c: true,
        },
      ]),
      mtls: { authorityHost: authority.mtlsUrl },
    });
    app = await startTokenApp(
      {
        isGlobal: true,
        defaultCredential: 'pop',
        cache: { store },
        credentials: {
          pop: bound(sni),
          stranger: bound(stranger),
          // Turned to mTLS while its first certificate file is not mounted yet.
          migrated: {
            ...localCredential(authority, tenant.tenantId, migrating.app.clientId, [
              { type: 'certificate', certificatePath: join(dir, 'missing.pem'), sendX5c: true },
              migrating.source as never,
            ]),
            mtls: { authorityHost: authority.mtlsUrl },
          },
        },
      },
      [
        DownstreamApiModule.forRoot({
          apis: { data: { baseUrl: api, scopes: authority.apiScope, ca: authority.caPem } },
        }),
      ],
    );
  });
  afterAll(async () => {
    await releaseAll(app);
    await rm(dir, { recursive: true, force: true });
  });

  const tokenRequests = () =>
    authority.log.filter((e) => e.target === 'token' && e.clientId === registered.clientId);

  it('gets an mtls_pop token bound to the certificate of the handshake, with no assertion', async () => {
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(token.tokenType).toBe('mtls_pop');
    expect(token.certificateThumbprint).toBe(thumbprintOf(sni));
    expect(decodeJwt(token.token)).toMatchObject({
      cnf: { 'x5t#S256': thumbprintOf(sni) },
      azp: registered.clientId,
    });
    expect(app.tokens.tokenBinding()).toBe('mtls');
    // At the mTLS endpoint, authenticated by the certificate: no assertion (no jti) was sent —
    // the endpoint refuses a request with one.
    expect(tokenRequests()).toEqual([
      expect.objectContaining({ credentialKind: 'mtls-certificate', outcome: 'ok' }),
    ]);
    expect(tokenRequests()[0]).not.toHaveProperty('jti');
    await expect(app.tokens.getAccessToken(authority.apiScope)).resolves.toMatchObject({
      source: 'cache',
    });
    expect(authority.countTokenRequests({ clientId: registered.clientId })).toBe(1);
  });

  it('calls the API as mtls_pop over connections presenting the certificate: fetch, axios, a downstream API', async () => {
    const apiCalls = () => authority.log.filter((e) => e.target === 'api' && e.status === 200);
    const before = apiCalls().length;
    const data = createAuthenticatedFetch(app.tokens, {
      baseUrl: api,
      scopes: authority.apiScope,
      ca: authority.caPem,
    });
    const res = await data('data');
    await expect(res.json()).resolves.toMatchObject({ ok: true, appid: registered.clientId });

    const instance = axios.create({ httpsAgent: new https.Agent({ ca: authority.caPem }) });
    const eject = useClientCredentials(instance, app.tokens, {
      baseUrl: api,
      scopes: authority.apiScope,
    });
    await expect(instance.get(`${api}/data`)).resolves.toMatchObject({ data: { ok: true } });
    eject();

    const downstream = app.app.get(DownstreamApis).get('data');
    await expect(downstream.get('data')).resolves.toMatchObject({ ok: true });
    expect(apiCalls().length - before).toBe(3);
    expect(authority.countTokenRequests({ clientId: registered.clientId })).toBe(1);
  });

  it('has the API refuse the token without its certificate, with another, as a bearer token, or at the plain endpoint', async () => {
    const token = await app.tokens.getAccessToken(authority.apiScope);
    const thief = await authority.createTenant().createApp().addSniCertificate();
    const without = new Agent({ connect: { ca: [authority.caPem] } });
    const another = new Agent({
      connect: { ca: [authority.caPem], cert: thief.chainPem, key: thief.privateKeyPem },
    });
    const right = app.tokens.boundCertificate(token)!.dispatcher({ ca: authority.caPem });
    const call = async (url: string, scheme: string, dispatcher: unknown) => {
      const res = await undiciFetch(`${url}/data`, {
        headers: { authorization: `${scheme} ${token.token}` },
        dispatcher: dispatcher as Agent,
      });
      const body = (await res.json()) as { error_description?: string };
      return `${res.status} ${body.error_description ?? 'ok'}`;
    };
    try {
      expect(await call(api, 'mtls_pop', without)).toBe(
        '401 the token is bound to a certificate the connection did not present',
      );
      expect(await call(api, 'mtls_pop', another)).toBe(
        '401 the token is bound to another certificate than the one presented',
      );
      expect(await call(api, 'Bearer', right)).toBe(
        '401 a certificate-bound token is sent as mtls_pop',
      );
      expect(await call(authority.apiUrl, 'mtls_pop', without)).toBe(
        '401 the token is bound to a certificate the connection did not present',
      );
      expect(await call(api, 'mtls_pop', right)).toBe('200 ok');
    } finally {
      await Promise.all([without.close(), another.close()]);
    }
  });

  it('is refused by the authority for a certificate whose subject the app does not trust', async () => {
    await expect(
      app.tokens.getAccessToken(authority.apiScope, { credential: 'stranger' }),
    ).rejects.toMatchObject({ code: 'credential_rejected', aadsts: 700030 });
    expect(tokenRequests().at(-1)).toMatchObject({
      credentialKind: 'mtls-certificate',
      errorCode: 700030,
    });
  });

  it('refuses the bearer-only paths an mtls_pop token cannot take', async () => {
    await expect(app.tokens.getAuthorizationHeader(authority.apiScope)).rejects.toMatchObject({
      code: 'proof_required',
    });
    await expect(
      createTokenCredential(app.tokens).getToken(authority.apiScope),
    ).rejects.toMatchObject({ code: 'proof_required' });
  });

  it('never serves a bearer token of a replica not migrated yet, even with its first certificate not loaded', async () => {
    const { tenantId } = registered;
    // A replica still without `mtls` (a rolling migration): bearer tokens, under the key the
    // first source of the migrated credential would have without its certificate.
    const old = await startTokenApp({
      cache: { store },
      credentials: {
        migrated: localCredential(authority, tenantId, migrating.app.clientId, [
          migrating.source as never,
        ]),
      },
    });
    try {
      const bearer = await old.tokens.getAccessToken(authority.apiScope);
      expect(bearer.tokenType).toBe('Bearer');
      const asked = () => authority.countTokenRequests({ clientId: migrating.app.clientId });
      expect(asked()).toBe(1);

      const token = await app.tokens.getAccessToken(authority.apiScope, { credential: 'migrated' });
      expect(token).toMatchObject({ tokenType: 'mtls_pop', source: 'network' });
      expect(token.certificateThumbprint).toBeDefined();
      expect(asked()).toBe(2);
      // And what is sent: the bound token over a connection presenting its certificate.
      const data = createAuthenticatedFetch(app.tokens, {
        baseUrl: api,
        scopes: authority.apiScope,
        credential: 'migrated',
        ca: authority.caPem,
      });
      await expect((await data('data')).json()).resolves.toMatchObject({
        ok: true,
        appid: migrating.app.clientId,
      });
      expect(asked()).toBe(2);
    } finally {
      await releaseAll(old);
    }
  });

  it("axios: each request's own agent decides whom its connection presenting the certificate trusts", async () => {
    const apiCalls = () => authority.log.filter((e) => e.target === 'api' && e.status === 200);
    const before = apiCalls().length;
    const instance = axios.create();
    const eject = useClientCredentials(instance, app.tokens, {
      baseUrl: api,
      scopes: authority.apiScope,
    });
    const status = (agent: https.Agent) =>
      instance.get(`${api}/data`, { httpsAgent: agent }).then(
        (r) => r.status,
        (e: Error) => e.message,
      );
    try {
      // An agent that verifies nothing, then a strict one: the strict one verifies.
      expect(await status(new https.Agent({ rejectUnauthorized: false }))).toBe(200);
      expect(await status(new https.Agent())).toMatch(/certificate/);
      // An agent without the API's CA, then one trusting it: the second is trusted.
      expect(await status(new https.Agent({ ca: authority.caPem }))).toBe(200);
      expect(apiCalls().length - before).toBe(2);
    } finally {
      eject();
    }
  });

  it('axios over HTTP/2 presents the certificate each token is bound to; an adapter it cannot control gets no token', async () => {
    const pki = await createTestPki();
    const seen: { scheme?: string; presented?: string }[] = [];
    const server = http2.createSecureServer(
      {
        cert: pki.certificatePem,
        key: pki.privateKeyPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const peer = peerCertificate(req.socket);
        seen.push({
          scheme: req.headers.authorization?.split(' ')[0],
          presented: peer === undefined ? undefined : certificateThumbprint(peer),
        });
        res.end('{}');
      },
    );
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (session) => sessions.add(session));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const h2 = (credential: string) => {
      const instance = axios.create({ httpVersion: 2, http2Options: { ca: pki.caPem } } as never);
      useClientCredentials(instance, app.tokens, {
        baseUrl: base,
        scopes: authority.apiScope,
        credential,
      });
      return instance;
    };
    try {
      // Two certificates, the same authority and options: never one session for both.
      await h2('pop').get(`${base}/a`);
      await h2('migrated').get(`${base}/b`);
      const tokens = await Promise.all(
        ['pop', 'migrated'].map((credential) =>
          app.tokens.getAccessToken(authority.apiScope, { credential }),
        ),
      );
      expect(tokens[0].certificateThumbprint).not.toBe(tokens[1].certificateThumbprint);
      expect(seen).toEqual(
        tokens.map((t) => ({ scheme: 'mtls_pop', presented: t.certificateThumbprint })),
      );

      let sent = 0;
      const custom = axios.create({
        adapter: async (config) => {
          sent++;
          return { data: {}, status: 200, statusText: 'OK', headers: {}, config };
        },
      });
      useClientCredentials(custom, app.tokens, { baseUrl: base, scopes: authority.apiScope });
      await expect(custom.get(`${base}/c`)).rejects.toMatchObject({ code: 'proof_required' });
      expect(sent).toBe(0);
    } finally {
      for (const session of sessions) session.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

import { randomUUID } from 'node:crypto';
import { exportJWK, importPKCS8, importX509, SignJWT } from 'jose';
import { startDevAuthority } from '@app/dev-authority';
import type { ClientCertificate } from '@app/dev-authority';
import { startOidcAuthority, type OidcAuthority } from '../support/oidc-authority';
import { startTokenApp, type TokenApp } from '../support/token-app';
import { startTokenStub, type TokenStub } from '../support/token-stub';
import { releaseAll } from '../support/fixtures';

/** A client certificate of the local authority's PKI, from an authority started for it alone. */
async function borrowCertificate(): Promise<ClientCertificate> {
  const dev = await startDevAuthority();
  try {
    return await dev.createTenant().createApp().addCertificate();
  } finally {
    await dev.close();
  }
}

/**
 * The same flows against oidc-provider, a certified third-party authorization server:
 * client_secret_post and private_key_jwt, with its replay detection of assertions on.
 */
describe('TokenService against a third-party OIDC issuer (oidc-provider)', () => {
  let oidc: OidcAuthority;
  let cert: ClientCertificate;
  let app: TokenApp;
  let reused: Promise<string> | undefined;
  const sign = async (aud: string) =>
    new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'PS256' })
      .setIssuer('jwt-client')
      .setSubject('jwt-client')
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(await importPKCS8(cert.privateKeyPem, 'PS256'));

  beforeAll(async () => {
    cert = await borrowCertificate();
    const publicJwk = await exportJWK(await importX509(cert.certificatePem, 'PS256'));
    oidc = await startOidcAuthority([
      {
        client_id: 'secret-client',
        client_secret: 'a-long-client-secret-value-0123456789',
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        client_id: 'jwt-client',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...publicJwk, use: 'sig', alg: 'PS256' }] },
      },
    ]);
    const common = {
      authorityHost: oidc.authorityHost,
      tenantId: oidc.tenant,
      protocol: 'oidc' as const,
      ca: oidc.caPem,
    };
    app = await startTokenApp({
      credentials: {
        secret: {
          ...common,
          clientId: 'secret-client',
          sources: [{ type: 'secret', secret: 'a-long-client-secret-value-0123456789' }],
        },
        jwt: {
          ...common,
          clientId: 'jwt-client',
          sources: [
            {
              type: 'certificate',
              certificate: cert.certificatePem,
              privateKey: cert.privateKeyPem,
            },
          ],
        },
        wrong: {
          ...common,
          clientId: 'secret-client',
          sources: [{ type: 'secret', secret: 'wrong' }],
        },
        // msal's own habit, reusing one signed assertion: what replay detection must refuse.
        replayed: {
          ...common,
          clientId: 'jwt-client',
          sources: [
            {
              type: 'assertion',
              getAssertion: ({ tokenEndpoint }) => (reused ??= sign(tokenEndpoint)),
            },
          ],
        },
      },
      defaultCredential: 'secret',
    });
  });
  afterAll(async () => {
    await releaseAll(app, oidc);
  });

  it('gets a token with client_secret_post, once for many concurrent callers', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => app.tokens.getAccessToken(oidc.scope)),
    );
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(oidc.requests.filter((r) => r.clientId === 'secret-client')).toEqual([
      { clientId: 'secret-client', ok: true },
    ]);
  });

  it('gets tokens with private_key_jwt, a fresh assertion each time (replay detection on)', async () => {
    await app.tokens.getAccessToken(oidc.scope, { credential: 'jwt' });
    await app.tokens.getAccessToken(oidc.scope, { credential: 'jwt', forceRefresh: true });
    await app.tokens.getAccessToken(oidc.scope, { credential: 'jwt', forceRefresh: true });
    expect(oidc.requests.filter((r) => r.clientId === 'jwt-client')).toEqual([
      { clientId: 'jwt-client', ok: true },
      { clientId: 'jwt-client', ok: true },
      { clientId: 'jwt-client', ok: true },
    ]);
  });

  it('is a real check: the authority refuses a replayed assertion', async () => {
    await app.tokens.getAccessToken(oidc.scope, { credential: 'replayed' });
    await expect(
      app.tokens.getAccessToken(oidc.scope, { credential: 'replayed', forceRefresh: true }),
    ).rejects.toMatchObject({ code: 'credential_rejected', oauthError: 'invalid_client' });
  });

  it('turns invalid_client into a typed rejection', async () => {
    await expect(
      app.tokens.getAccessToken(oidc.scope, { credential: 'wrong' }),
    ).rejects.toMatchObject({
      code: 'credential_rejected',
      oauthError: 'invalid_client',
      status: 401,
      transient: false,
    });
  });
});

/** What no third-party issuer fails on cue: discovery outages, and scope sets (loopback stub). */
describe('TokenService against an OIDC issuer: discovery failures and scope sets', () => {
  let stub: TokenStub;
  let app: TokenApp | undefined;

  beforeAll(async () => {
    stub = await startTokenStub();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await stub?.close();
  });

  async function start(maxAttempts: number, tenantId: string) {
    app = await startTokenApp({
      credentials: {
        oidc: {
          authorityHost: stub.url,
          tenantId,
          clientId: 'client',
          protocol: 'oidc',
          ca: stub.caPem,
          sources: [{ type: 'secret', secret: 'a-secret' }],
        },
      },
      retry: { maxAttempts, initialDelayMs: 20, maxDelayMs: 50 },
    });
    return app.tokens;
  }
  const unavailable = {
    status: 503,
    headers: { 'content-type': 'text/html' },
    body: '<h1>503</h1>',
  };

  it('retries a discovery document that answered 503: a transient failure, not a bad setting', async () => {
    const tokens = await start(3, 'realm-retry');
    stub.discoveryAnswers.push(unavailable);
    const before = { discovery: stub.discoveryRequests, tokens: stub.requests };

    const token = await tokens.getAccessToken('scope-a');

    expect(token.source).toBe('network');
    expect(stub.discoveryRequests - before.discovery).toBe(2);
    expect(stub.requests - before.tokens).toBe(1);
  });

  it('reports a discovery outage as endpoint_unavailable, transient, with its status', async () => {
    const tokens = await start(1, 'realm-down');
    stub.discoveryAnswers.push(unavailable);

    await expect(tokens.getAccessToken('scope-a')).rejects.toMatchObject({
      code: 'endpoint_unavailable',
      transient: true,
      status: 503,
    });
  });

  it('serves a scope set only to callers asking for that set, never to a string that joins it', async () => {
    const tokens = await start(1, 'realm-scopes');
    const before = stub.requests;
    await tokens.getAccessToken(['scope-b', 'scope-a']);
    expect((await tokens.getAccessToken(['scope-a', 'scope-b'])).source).toBe('cache');

    for (const joined of ['scope-a scope-b', ['scope-a scope-b'], ['scope-a', 'scope-b c']]) {
      await expect(tokens.getAccessToken(joined)).rejects.toMatchObject({ code: 'scope_invalid' });
    }
    expect(stub.requests - before).toBe(1);
  });

  // RFC 6749 §5.1: expires_in is RECOMMENDED; such an issuer's JWT access tokens carry `exp`.
  it('takes the lifetime of an answer without expires_in from its JWT exp; refuses an opaque one', async () => {
    const tokens = await start(1, 'realm-no-expires-in');
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const jwt = `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64({ exp, aud: 'api' })}.c2ln`;
    const answer = (accessToken: string) => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token_type: 'Bearer', access_token: accessToken }),
    });
    const saved = stub.answer;
    try {
      stub.answer = answer(jwt);
      const token = await tokens.getAccessToken('scope-jwt');
      expect(token.token).toBe(jwt);
      // Seconds from now, as expires_in would have said.
      expect(Math.abs(token.expiresOn.getTime() - exp * 1000)).toBeLessThanOrEqual(2000);

      stub.answer = answer('opaque-token');
      await expect(tokens.getAccessToken('scope-opaque')).rejects.toMatchObject({
        code: 'invalid_response',
        message: expect.stringContaining(
          'has no expires_in, and its access_token is not a JWT with an exp claim',
        ) as unknown,
      });
    } finally {
      stub.answer = saved;
    }
  });
});

/**
 * A generic issuer named by its URL (`issuer`), not split into a host and a "tenant": mounted at a
 * path and at the root of its origin (which no split can express), with each client authentication
 * method the issuer's metadata allows — client_secret_basic only, client_secret_post, private_key_jwt.
 */
describe.each([
  { mount: 'path' as const, secretMethod: 'client_secret_post' as const },
  { mount: 'root' as const, secretMethod: 'client_secret_basic' as const },
])('TokenService with `issuer` (oidc-provider mounted at the $mount, $secretMethod)', (c) => {
  const secret = 'a-long-client-secret-value-0123456789';
  let oidc: OidcAuthority;
  let app: TokenApp;

  beforeAll(async () => {
    const cert = await borrowCertificate();
    const publicJwk = await exportJWK(await importX509(cert.certificatePem, 'PS256'));
    oidc = await startOidcAuthority(
      [
        {
          client_id: 'secret-client',
          client_secret: secret,
          token_endpoint_auth_method: c.secretMethod,
        },
        {
          client_id: 'jwt-client',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...publicJwk, use: 'sig', alg: 'PS256' }] },
        },
      ],
      { mount: c.mount },
    );
    const common = { issuer: oidc.issuer, protocol: 'oidc' as const, ca: oidc.caPem };
    app = await startTokenApp({
      credentials: {
        secret: { ...common, clientId: 'secret-client', sources: [{ type: 'secret', secret }] },
        jwt: {
          ...common,
          clientId: 'jwt-client',
          sources: [
            {
              type: 'certificate',
              certificate: cert.certificatePem,
              privateKey: cert.privateKeyPem,
            },
          ],
        },
      },
      defaultCredential: 'secret',
    });
  });
  afterAll(async () => {
    await releaseAll(app, oidc);
  });

  it(`gets a token with ${c.secretMethod}, once for many concurrent callers`, async () => {
    expect(oidc.authMethods).toEqual([c.secretMethod, 'private_key_jwt']);
    const tokens = await Promise.all(
      Array.from({ length: 20 }, () => app.tokens.getAccessToken(oidc.scope)),
    );
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(oidc.requests).toEqual([{ clientId: 'secret-client', ok: true }]);
  });

  it('gets tokens with private_key_jwt', async () => {
    await app.tokens.getAccessToken(oidc.scope, { credential: 'jwt' });
    await app.tokens.getAccessToken(oidc.scope, { credential: 'jwt', forceRefresh: true });
    expect(oidc.requests.filter((r) => r.clientId === 'jwt-client')).toEqual([
      { clientId: 'jwt-client', ok: true },
      { clientId: 'jwt-client', ok: true },
    ]);
  });

  it('refuses a token of another tenant: an issuer has one realm', async () => {
    const before = oidc.requests.length;
    await expect(
      app.tokens.getAccessToken(oidc.scope, { tenantId: 'another-realm' }),
    ).rejects.toMatchObject({ code: 'tenant_unsupported' });
    expect(oidc.requests.length).toBe(before);
  });
});

import { startDevAuthority } from '@app/dev-authority';
import {
  AccessToken,
  ClientCredentialsModule,
  CredentialSource,
  ERROR_CATALOG,
  TokenRequestRejectedError,
  TokenService,
} from '@app/client-credentials';
import { Test } from '@nestjs/testing';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { useFixtures } from '../support/fixtures';
import { callApi, localCredential, startTokenApp, TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * Every source type over real HTTPS against the local authority, with the authority's own
 * counters as the judge of how many token requests were made.
 */
describe('TokenService: acquisition', () => {
  let app: TokenApp | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const credentialOf = (tenantId: string, clientId: string, sources: CredentialSource[]) =>
    localCredential(authority, tenantId, clientId, sources);

  async function expectAccepted(token: AccessToken): Promise<void> {
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
  }

  it('gets a token with a client secret that the protected API accepts, then serves it from the cache', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const secret = appReg.addSecret();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [{ type: 'secret', secret }]),
      },
    });

    const first = await app.tokens.getAccessToken(authority.apiScope);
    const second = await app.tokens.getAccessToken(authority.apiScope);

    expect(first.source).toBe('network');
    expect(second.source).toBe('cache');
    expect(second.token).toBe(first.token);
    expect(first).toMatchObject({
      tokenType: 'Bearer',
      credential: 'api',
      scopes: [authority.apiScope],
    });
    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(1);
    await expectAccepted(first);
    expect(await app.tokens.getAuthorizationHeader(authority.apiScope)).toBe(
      `Bearer ${first.token}`,
    );
    expect(app.tokens.getStats()).toMatchObject({ cacheHits: 2, cacheMisses: 1, tokenRequests: 1 });
    // A token request that went well logs nothing, at any level (msal warned on each one that
    // the answer had no client_info, which a client-credentials answer never has).
    expect(app.logger.text).toBe('');
  });

  it('signs a fresh assertion (own jti) for each certificate request', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const cert = await appReg.addCertificate();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          { type: 'certificate', certificate: cert.certificatePem, privateKey: cert.privateKeyPem },
        ]),
      },
    });

    const a = await app.tokens.getAccessToken(authority.apiScope);
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    await expectAccepted(a);
    const entries = authority.log.filter(
      (e) => e.target === 'token' && e.clientId === appReg.clientId,
    );
    expect(entries.map((e) => [e.credentialKind, e.outcome])).toEqual([
      ['certificate', 'ok'],
      ['certificate', 'ok'],
    ]);
    expect(new Set(entries.map((e) => e.jti)).size).toBe(2);
  });

  it('sends the x5c chain for a subject name + issuer (SNI) certificate', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const sni = await appReg.addSniCertificate();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          {
            type: 'certificate',
            certificate: sni.chainPem,
            privateKey: sni.privateKeyPem,
            sendX5c: true,
          },
        ]),
      },
    });

    await expectAccepted(await app.tokens.getAccessToken(authority.apiScope));
    expect(authority.log.find((e) => e.clientId === appReg.clientId)?.credentialKind).toBe(
      'sni-certificate',
    );
  });

  it('uses an assertion from the application callback, told the tenant’s token endpoint', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    appReg.addFederatedCredential({
      issuer: authority.externalIssuer.url,
      subject: 'system:serviceaccount:jobs:sync',
    });
    const seen: string[] = [];
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          {
            type: 'assertion',
            getAssertion: ({ tokenEndpoint }) => {
              seen.push(tokenEndpoint);
              return authority.externalIssuer.mintToken({
                subject: 'system:serviceaccount:jobs:sync',
              });
            },
          },
        ]),
      },
    });

    await expectAccepted(await app.tokens.getAccessToken(authority.apiScope));
    expect(seen).toEqual([`${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`]);
  });

  it('sends exactly one token request for 1,000 concurrent cold callers', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          { type: 'secret', secret: appReg.addSecret() },
        ]),
      },
    });

    const tokens = await Promise.all(
      Array.from({ length: 1000 }, () => app!.tokens.getAccessToken(authority.apiScope)),
    );

    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(1);
  });

  it('serves one credential across many tenants, one token request per tenant, cached apart', async () => {
    const home = authority.createTenant();
    const appReg = home.createApp();
    const secret = appReg.addSecret();
    const tenants = [home, ...Array.from({ length: 4 }, () => authority.createTenant())];
    for (const t of tenants.slice(1)) t.createApp({ clientId: appReg.clientId, secret });
    app = await startTokenApp({
      credentials: {
        api: credentialOf(home.tenantId, appReg.clientId, [{ type: 'secret', secret }]),
      },
    });

    for (let round = 0; round < 3; round++) {
      await Promise.all(
        tenants.map((t) =>
          app!.tokens.getAccessToken(authority.apiScope, { tenantId: t.tenantId }),
        ),
      );
    }

    for (const t of tenants) {
      expect(
        authority.countTokenRequests({ tenantId: t.tenantId, clientId: appReg.clientId }),
      ).toBe(1);
    }
    const byTenant = await Promise.all(
      tenants.map((t) => app!.tokens.getAccessToken(authority.apiScope, { tenantId: t.tenantId })),
    );
    expect(new Set(byTenant.map((t) => t.token)).size).toBe(tenants.length);
  });

  it('rejects a wrong secret with a typed error carrying the AADSTS number and a hint, once', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    appReg.addSecret();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          { type: 'secret', secret: 'not-the-secret' },
        ]),
      },
    });

    const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TokenRequestRejectedError);
    expect(error).toMatchObject({
      code: 'credential_rejected',
      aadsts: 7000215,
      oauthError: 'invalid_client',
      status: 401,
      credential: 'api',
      tenantId: tenant.tenantId,
      transient: false,
      hint: 'Copy the secret *value* (not its ID) from the app registration, or create a new secret.',
    });
    expect((error as Error).message).toMatch(
      /^Token request for credential 'api' \(tenant [0-9a-f-]+\) was rejected: the token endpoint answered HTTP 401: AADSTS7000215: /,
    );
    expect((error as { correlationId?: string }).correlationId).toBeTruthy();
    // Not retried: a wrong secret never gets better by asking again.
    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(1);
    // Callers right after it fail fast from the cool-down instead of storming the authority.
    await expect(app.tokens.getAccessToken(authority.apiScope)).rejects.toBe(error);
    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(1);
  });

  it.each([
    [
      'a scope without /.default',
      'api://dev-api/Data.Read',
      "Scopes for credential 'api' name 'api://dev-api/Data.Read', which is not '<resource>/.default' (e.g. 'api://my-api/.default').",
    ],
    [
      'two resources',
      ['api://a/.default', 'api://b/.default'],
      "Scopes for credential 'api' name 2 scopes; client credentials with Entra ID take exactly one '<resource>/.default'.",
    ],
    ['no scope', [], "Scopes for credential 'api' are empty."],
    [
      'a scope with a space',
      'api://dev api/.default',
      'Scopes for credential \'api\' contain "api://dev api/.default", which has spaces or characters not allowed in a scope.',
    ],
  ])('refuses %s before any network call', async (_what, scopes, message) => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          { type: 'secret', secret: appReg.addSecret() },
        ]),
      },
    });

    await expect(app.tokens.getAccessToken(scopes as string)).rejects.toMatchObject({
      code: 'scope_invalid',
      message: `${message} Hint: ${ERROR_CATALOG.scope_invalid.fix}`,
    });
    await expect(
      app.tokens.getAccessToken(authority.apiScope, { credential: 'other' }),
    ).rejects.toMatchObject({
      code: 'credential_unknown',
      message:
        "Unknown credential 'other': configured are api. Hint: Pass one of the configured credential names, or set `defaultCredential`.",
    });
    await expect(
      app.tokens.getAccessToken(authority.apiScope, { tenantId: 'organizations' }),
    ).rejects.toMatchObject({
      code: 'tenant_invalid',
    });
    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(0);
  });

  it('keeps every default when forRootAsync gets options as undefined from a config service', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const secret = appReg.addSecret();
    // What ConfigService.get() answers for keys that are not set.
    const unset = (_key: string): number | boolean | undefined => undefined;
    const moduleRef = await Test.createTestingModule({
      imports: [
        ClientCredentialsModule.forRootAsync({
          useFactory: () => ({
            credentials: {
              api: credentialOf(tenant.tenantId, appReg.clientId, [{ type: 'secret', secret }]),
            },
            cache: { maxEntries: unset('CACHE_MAX') as number },
            refresh: {
              refreshAt: unset('REFRESH_AT') as number,
              expirySkewSeconds: unset('SKEW') as number,
            },
            retry: { maxAttempts: unset('ATTEMPTS') as number },
            timeouts: {
              acquireMs: unset('ACQUIRE_MS') as number,
              requestMs: unset('REQUEST_MS') as number,
            },
          }),
        }),
      ],
    }).compile();
    const ctx = await moduleRef.init();
    try {
      const tokens = ctx.get(TokenService);
      const first = await tokens.getAccessToken(authority.apiScope);
      const second = await tokens.getAccessToken(authority.apiScope);

      expect([first.source, second.source]).toEqual(['network', 'cache']);
      expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(1);
    } finally {
      await ctx.close();
    }
  });

  it('sends a secret without the newline a secrets file left behind', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const secret = appReg.addSecret();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [
          { type: 'secret', secret: `${secret}\n` },
        ]),
      },
    });

    await expectAccepted(await app.tokens.getAccessToken(authority.apiScope));
  });

  it('serves a scope list with a duplicate from the cache: one token request for 20 calls', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const secret = appReg.addSecret();
    app = await startTokenApp({
      credentials: {
        api: credentialOf(tenant.tenantId, appReg.clientId, [{ type: 'secret', secret }]),
      },
    });

    const sources = [];
    for (let call = 0; call < 20; call++) {
      sources.push(
        (await app.tokens.getAccessToken([authority.apiScope, authority.apiScope])).source,
      );
    }

    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(1);
    expect(sources.filter((s) => s === 'network')).toHaveLength(1);
  });

  it('takes a stored token whose times came back as strings (an app store) for a miss', async () => {
    const tenant = authority.createTenant();
    const appReg = tenant.createApp();
    const secret = appReg.addSecret();
    // A store the app supplies (cache.store) that gives values back with times as strings, as
    // a hash-backed store or a hand-written one may.
    const keyv = new Keyv();
    const start = async () =>
      startTokenApp({
        credentials: {
          api: credentialOf(tenant.tenantId, appReg.clientId, [{ type: 'secret', secret }]),
        },
        cache: { store: createCache({ stores: [keyv] }) },
      });
    app = await start();
    const first = await app.tokens.getAccessToken(authority.apiScope);
    await app.close();
    const [key] = [...(keyv as unknown as { store: Map<string, unknown> }).store.keys()];
    const name = key.slice('keyv:'.length);
    const value = (await keyv.get<Record<string, unknown>>(name))!;
    await keyv.set(name, { ...value, expiresOn: String(value.expiresOn) });

    app = await start();
    const token = await app.tokens.getAccessToken(authority.apiScope);

    // Not the stored token served as if it expired centuries from now: a fresh one, for an hour.
    expect(token.source).toBe('network');
    expect(token.token).not.toBe(first.token);
    expect(token.expiresOn.getTime() - Date.now()).toBeLessThan(2 * 3_600_000);
    expect(authority.countTokenRequests({ clientId: appReg.clientId })).toBe(2);
  });
});

import { HealthIndicatorService } from '@nestjs/terminus';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { startDevAuthority } from '@app/dev-authority';
import { InvalidRequestError, type CredentialSource } from '@app/client-credentials';
import {
  ClientCredentialsHealthIndicator,
  type CredentialHealth,
} from '@app/client-credentials/health';
import { useFixtures } from '../support/fixtures';
import { signClientAssertion } from '../support/client-assertion';
import { callApi, localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * One credential, several tenants: a multi-tenant app asks for tokens of its customers' tenants
 * with the `tenantId` option. What one tenant says must stay that tenant's; and a managed identity,
 * which lives in one tenant, must never answer for another.
 */
describe('Tenants of one credential', () => {
  let app: TokenApp | undefined;
  const env = { ...process.env };

  beforeAll(() => {
    // msal's managed identity picks the App Service endpoint from these; never IMDS.
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(() => {
    process.env = env;
  });

  async function start(
    tenantId: string | undefined,
    clientId: string | undefined,
    sources: CredentialSource[],
  ) {
    app = await startTokenApp({
      credentials: { api: localCredential(authority, tenantId, clientId, sources) },
      retry: { maxAttempts: 1 },
    });
    return app.tokens;
  }

  const log = (target: 'token' | 'managed-identity') =>
    authority.log.filter((e) => e.target === target);

  it('a managed identity refuses a token of another tenant, and never caches one for it', async () => {
    const home = authority.createTenant().tenantId;
    const other = authority.createTenant().tenantId;
    authority.createManagedIdentity({ tenantId: home, kind: 'system' });
    const tokens = await start(undefined, undefined, [{ type: 'managed-identity' }]);
    authority.resetLog();

    const refused = tokens.getAccessToken(authority.apiScope, { tenantId: other });
    await expect(refused).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(refused).rejects.toMatchObject({
      code: 'tenant_unsupported',
      tenantId: other,
      message: expect.stringContaining('managed-identity-assertion'),
    });
    // Its tenant is configured nowhere: the one request was for its own token (whose `tid` says
    // which tenant is its own), kept as its own.
    expect(log('managed-identity')).toHaveLength(1);
    expect(tokens.tenantOf()).toBe(home);

    // Its own token (from the cache), then the other tenant again: still refused, at once, never
    // the own token under its key.
    const own = await tokens.getAccessToken(authority.apiScope);
    expect(own.source).toBe('cache');
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${own.token}`)).toBe(200);
    await expect(
      tokens.getAccessToken(authority.apiScope, { tenantId: other }),
    ).rejects.toMatchObject({ code: 'tenant_unsupported' });
    expect(log('managed-identity')).toHaveLength(1);
    expect(tokens.getStats().lastError).toBeUndefined();
  });

  it("a managed identity configured with another tenant's id fails naming the setting, and serves no token as that tenant's", async () => {
    const home = authority.createTenant().tenantId;
    const other = authority.createTenant().tenantId;
    const mi = authority.createManagedIdentity({ tenantId: home, kind: 'user' });
    const tokens = await start(other, undefined, [
      { type: 'managed-identity', clientId: mi.clientId },
    ]);

    for (const call of [
      () => tokens.getAccessToken(authority.apiScope),
      () => tokens.getAccessToken(authority.apiScope, { tenantId: other }),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: 'options_invalid',
        problems: [
          `credentials.api.tenantId: names tenant '${other}', but the managed identity's tokens are of tenant '${home}' — leave tenantId out (a managed identity needs none) or set it to '${home}'`,
        ],
      });
    }
  });

  it('an app signing in with a managed identity (managed-identity-assertion) gets tokens of a customer tenant', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const mi = authority.createManagedIdentity({ tenantId: home.tenantId, kind: 'user' });
    reg.addFederatedCredential({
      issuer: `${authority.url}/${home.tenantId}/v2.0`,
      subject: mi.objectId,
    });
    const customer = authority.createTenant();
    customer.createApp({ clientId: reg.clientId }); // the customer's admin consented
    const tokens = await start(home.tenantId, reg.clientId, [
      { type: 'managed-identity-assertion', managedIdentityClientId: mi.clientId },
    ]);
    authority.resetLog();

    const token = await tokens.getAccessToken(authority.apiScope, { tenantId: customer.tenantId });

    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    expect(log('token').map((e) => [e.tenantId, e.credentialKind, e.outcome])).toEqual([
      [customer.tenantId, 'federated', 'ok'],
    ]);
  });

  it('a customer tenant that has not consented fails its calls only: the credential stays healthy', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const consented = authority.createTenant();
    consented.createApp({ clientId: reg.clientId });
    const notConsented = authority.createTenant().tenantId;
    const tokens = await start(home.tenantId, reg.clientId, [
      { type: 'secret', secret: reg.addSecret() },
    ]);

    await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope, { tenantId: consented.tenantId });
    await expect(
      tokens.getAccessToken(authority.apiScope, { tenantId: notConsented }),
    ).rejects.toMatchObject({ code: 'request_rejected', aadsts: 700016, tenantId: notConsented });

    const stats = tokens.getStats();
    expect(stats.lastError).toBeUndefined();
    expect(stats.failures).toEqual({ request_rejected: 1 });
    expect(stats.tenants?.[notConsented]?.lastError).toMatchObject({ aadsts: 700016 });
    expect(stats.tenants?.[consented.tenantId]?.lastSuccessAt).toBeInstanceOf(Date);
    expect(stats.tenants?.[home.tenantId]).toBeUndefined();

    const health = new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService());
    const result = health.isHealthy('credentials');
    expect(result.credentials.status).toBe('up');
    const api = (result.credentials.credentials as Record<string, CredentialHealth>).api;
    expect(api.status).toBe('up');
    expect(api.failingTenants).toEqual({
      [notConsented]: { code: 'request_rejected', aadsts: 700016, at: expect.any(String) },
    });
  });

  it('a tenant spelt in another case is the same tenant: one token each, served to both spellings', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const customer = authority.createTenant();
    customer.createApp({ clientId: reg.clientId });
    const tokens = await start(home.tenantId, reg.clientId, [
      { type: 'secret', secret: reg.addSecret() },
    ]);
    authority.resetLog();

    const spellings = [home.tenantId, customer.tenantId].flatMap((t) => [t, t.toUpperCase()]);
    const issued = [];
    for (const tenantId of [...spellings, ...spellings])
      issued.push(await tokens.getAccessToken(authority.apiScope, { tenantId }));

    expect(log('token')).toHaveLength(2);
    expect(new Set(issued.map((t) => t.token)).size).toBe(2);
    expect(issued[1].token).toBe(issued[0].token);
    expect(issued[3].token).toBe(issued[2].token);
    // From the second round on, every spelling is a cache hit.
    expect(tokens.getStats().cacheHits).toBeGreaterThanOrEqual(4);
  });

  it("a token of one tenant found in the app's store under another tenant's key is a miss there", async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const customer = authority.createTenant();
    customer.createApp({ clientId: reg.clientId });
    const secret = reg.addSecret();
    // A plain store the app supplies (cache.store): nothing binds a value to its key.
    const keyv = new Keyv();
    const startWithStore = async () => {
      app = await startTokenApp({
        credentials: {
          api: localCredential(authority, home.tenantId, reg.clientId, [
            { type: 'secret', secret },
          ]),
        },
        cache: { store: createCache({ stores: [keyv] }) },
      });
      return app.tokens;
    };
    const homeToken = await (await startWithStore()).getAccessToken(authority.apiScope);
    await app!.close();

    // The home tenant's entry copied under the customer tenant's key (a mis-keyed or corrupted
    // store; the keys differ only in the tenant).
    const entries = (keyv as unknown as { store: Map<string, unknown> }).store;
    const [homeKey] = [...entries.keys()];
    entries.set(homeKey.replace(home.tenantId, customer.tenantId), entries.get(homeKey));
    const tokens = await startWithStore();
    authority.resetLog();

    const t = await tokens.getAccessToken(authority.apiScope, { tenantId: customer.tenantId });
    expect(t.source).toBe('network');
    expect(t.token).not.toBe(homeToken.token);
    expect(log('token')).toHaveLength(1);
    expect(log('token')[0].tenantId).toBe(customer.tenantId);
  });

  it('a source one tenant rejects is skipped for that tenant only', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const certificate = await reg.addCertificate();
    const customer = authority.createTenant();
    customer.createApp({ clientId: reg.clientId });
    // An assertion made for the home tenant's token endpoint: the customer's refuses its audience.
    const homeEndpoint = `${authority.url}/${home.tenantId}/oauth2/v2.0/token`;
    const tokens = await start(home.tenantId, reg.clientId, [
      {
        type: 'assertion',
        getAssertion: ({ clientId }) =>
          signClientAssertion({
            privateKeyPem: certificate.privateKeyPem,
            thumbprintSha256: certificate.thumbprintSha256,
            clientId,
            audience: homeEndpoint,
          }),
      },
      { type: 'secret', secret: reg.addSecret() },
    ]);
    authority.resetLog();

    await tokens.getAccessToken(authority.apiScope, { tenantId: customer.tenantId });
    await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope, {
      tenantId: customer.tenantId,
      forceRefresh: true,
    });

    expect(log('token').map((e) => [e.tenantId, e.credentialKind, e.errorCode])).toEqual([
      [customer.tenantId, 'assertion', 700023],
      [customer.tenantId, 'secret', undefined],
      // The home tenant still uses the first source; the customer's skips it for its cool-down.
      [home.tenantId, 'certificate', undefined],
      [customer.tenantId, 'secret', undefined],
    ]);
    const stats = tokens.getStats();
    expect(stats.skippedSources).toEqual({});
    expect(stats.tenants?.[customer.tenantId]?.skippedSources?.['assertion#0']?.reason).toContain(
      'AADSTS700023',
    );
    expect(
      app!.logger.lines.filter((l) => l.message.includes("source 'assertion#0' skipped")),
    ).toEqual([
      {
        level: 'warn',
        message: expect.stringContaining(
          `source 'assertion#0' skipped for tenant ${customer.tenantId}, moving on to the next`,
        ),
      },
    ]);
  });
});

import { startDevAuthority } from '@app/dev-authority';
import { InvalidRequestError } from '@app/client-credentials';
import { createTokenCredential } from '@app/client-credentials/calling';
import { useFixtures } from '../support/fixtures';
import {
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';
import { claimsOf } from './control';

const [authority] = useFixtures(startDevAuthority);

/**
 * The tenants an Azure SDK client may ask our TokenCredential for. SDKs pass the tenant of a
 * resource's challenge (Key Vault's, say): @azure/identity serves a tenant other than the
 * credential's own only when it is listed in `additionallyAllowedTenants` (or `'*'`), so a resource
 * cannot make the app get tokens of any tenant it names. Ours must do the same, before any request.
 */
describe('TokenCredential: tenants an SDK asks for', () => {
  let app: TokenApp | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /**
   * A multi-tenant app of `home`, consented to in two customer tenants; with `domain`, its
   * credential names `home` by that verified domain.
   */
  async function start(domain?: string) {
    const home = authority.createTenant();
    if (domain !== undefined) home.addDomain(domain);
    const reg = home.createApp();
    const secret = reg.addSecret();
    const customer = authority.createTenant();
    customer.createApp({ clientId: reg.clientId });
    const stranger = authority.createTenant();
    stranger.createApp({ clientId: reg.clientId });
    // Two credentials, the second the default: the credential's own tenant is the default's.
    const other = authority.createTenant();
    const otherReg = other.createApp();
    app = await startTokenApp({
      credentials: {
        other: localCredential(authority, other.tenantId, otherReg.clientId, [
          { type: 'secret', secret: otherReg.addSecret() },
        ]),
        api: localCredential(authority, domain ?? home.tenantId, reg.clientId, [
          { type: 'secret', secret },
        ]),
      },
      defaultCredential: 'api',
      retry: { maxAttempts: 1 },
    });
    authority.resetLog();
    const requests = (tenantId: string) =>
      authority.countTokenRequests({ tenantId, clientId: reg.clientId });
    return {
      tokens: app.tokens,
      home: home.tenantId,
      customer: customer.tenantId,
      stranger: stranger.tenantId,
      requests,
    };
  }

  it("refuses a tenant other than the credential's own by default, before any token request", async () => {
    const { tokens, home, customer, requests } = await start();
    const credential = createTokenCredential(tokens);

    const refused = credential.getToken(authority.apiScope, { tenantId: customer });
    await expect(refused).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(refused).rejects.toMatchObject({
      code: 'tenant_not_allowed',
      tenantId: customer,
      credential: 'api',
      message: expect.stringContaining('additionallyAllowedTenants'),
    });
    expect(requests(customer)).toBe(0);

    // Its own tenant, asked by the SDK in another case (tenant ids are not case-sensitive), or not
    // asked at all: one token of the home tenant.
    const asked = await credential.getToken(authority.apiScope, { tenantId: home.toUpperCase() });
    const plain = await credential.getToken(authority.apiScope);
    expect(claimsOf(asked!.token).tid).toBe(home);
    expect(plain!.token).toBe(asked!.token);
    expect(requests(home)).toBe(1);
  });

  it('a credential that names its tenant by a verified domain serves that tenant asked by its id (Key Vault names it so), and refuses another', async () => {
    const { tokens, home, customer, requests } = await start('contoso.onmicrosoft.com');
    const credential = createTokenCredential(tokens);

    // Before any token: one of its own tenant, given because it names the tenant asked.
    const asked = await credential.getToken(authority.apiScope, { tenantId: home });
    expect(claimsOf(asked!.token).tid).toBe(home);
    expect(tokens.tenantOf()).toBe('contoso.onmicrosoft.com');
    // A customer tenant: refused by id once known, before any request of that tenant.
    await expect(
      credential.getToken(authority.apiScope, { tenantId: customer }),
    ).rejects.toMatchObject({
      code: 'tenant_not_allowed',
      tenantId: customer,
      message: expect.stringContaining(
        `neither its own tenant 'contoso.onmicrosoft.com' (id ${home}) nor listed`,
      ),
    });
    const again = await credential.getToken(authority.apiScope, { tenantId: home.toUpperCase() });
    const plain = await credential.getToken(authority.apiScope);
    expect([again!.token, plain!.token]).toEqual([asked!.token, asked!.token]);
    expect(requests(home)).toBe(1);
    expect(requests(customer)).toBe(0);

    // A new credential, before it knows the id, asked for another tenant first: it gets a token
    // of its own tenant (never of the one asked), sees its tid, and refuses.
    const fresh = createTokenCredential(tokens);
    await expect(fresh.getToken(authority.apiScope, { tenantId: customer })).rejects.toMatchObject({
      code: 'tenant_not_allowed',
      tenantId: customer,
    });
    expect(requests(customer)).toBe(0);
  });

  it('serves the tenants listed in additionallyAllowedTenants, and no other', async () => {
    const { tokens, customer, stranger, requests } = await start();
    const credential = createTokenCredential(tokens, {
      credential: 'api',
      additionallyAllowedTenants: [customer],
    });

    const token = await credential.getToken(authority.apiScope, { tenantId: customer });
    expect(claimsOf(token!.token).tid).toBe(customer);
    await expect(
      credential.getToken(authority.apiScope, { tenantId: stranger }),
    ).rejects.toMatchObject({ code: 'tenant_not_allowed', tenantId: stranger });
    expect(requests(customer)).toBe(1);
    expect(requests(stranger)).toBe(0);
  });

  it("'*' allows any tenant", async () => {
    const { tokens, customer, stranger, requests } = await start();
    const credential = createTokenCredential(tokens, { additionallyAllowedTenants: ['*'] });

    for (const tenantId of [customer, stranger]) {
      const token = await credential.getToken(authority.apiScope, { tenantId });
      expect(claimsOf(token!.token).tid).toBe(tenantId);
    }
    expect(requests(customer)).toBe(1);
    expect(requests(stranger)).toBe(1);
  });

  it("a credential given a tenantId has that tenant as its own: the credential's home is then another tenant", async () => {
    const { tokens, home, customer, requests } = await start();
    const credential = createTokenCredential(tokens, { tenantId: customer });

    const plain = await credential.getToken(authority.apiScope);
    expect(claimsOf(plain!.token).tid).toBe(customer);
    const asked = await credential.getToken(authority.apiScope, { tenantId: customer });
    expect(asked!.token).toBe(plain!.token);
    await expect(credential.getToken(authority.apiScope, { tenantId: home })).rejects.toMatchObject(
      { code: 'tenant_not_allowed', tenantId: home },
    );
    expect(requests(customer)).toBe(1);
    expect(requests(home)).toBe(0);
  });
});

/**
 * A managed identity configured as docs/credentials.md shows (no tenantId) behind the Azure SDK
 * credential: SDKs that follow a resource's challenge (Key Vault, Storage, Service Bus) name the
 * tenant of the challenge — the identity's own. It must be served, as @azure/identity's
 * ManagedIdentityCredential serves it; any other tenant refused before a request.
 */
describe('TokenCredential: a managed identity named by its own tenant', () => {
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

  async function start() {
    const home = authority.createTenant().tenantId;
    const other = authority.createTenant().tenantId;
    const identity = authority.createManagedIdentity({ tenantId: home, kind: 'user' });
    app = await startTokenApp({
      credentials: { mi: localManagedIdentity(authority, { clientId: identity.clientId }) },
    });
    authority.resetLog();
    return { tokens: app.tokens, home, other };
  }

  it.each([[undefined], [['*']]])(
    'serves its own tenant named before any token, and refuses another (additionallyAllowedTenants: %j)',
    async (additionallyAllowedTenants) => {
      const { tokens, home, other } = await start();
      const credential = createTokenCredential(tokens, { additionallyAllowedTenants });

      const token = await credential.getToken(authority.apiScope, { tenantId: home });
      expect(claimsOf(token!.token).tid).toBe(home);
      expect(tokens.tenantOf()).toBe(home);
      // Named again (in another case) or not at all: the same token, from the cache.
      const again = await credential.getToken(authority.apiScope, { tenantId: home.toUpperCase() });
      const plain = await credential.getToken(authority.apiScope);
      expect(again!.token).toBe(token!.token);
      expect(plain!.token).toBe(token!.token);
      await expect(
        credential.getToken(authority.apiScope, { tenantId: other }),
      ).rejects.toMatchObject({ code: 'tenant_unsupported', tenantId: other });
      expect(authority.countTokenRequests({ target: 'managed-identity' })).toBe(1);
    },
  );

  it('refuses another tenant named before any token, once its own token shows its tenant — and caches nothing for it', async () => {
    const { tokens, home, other } = await start();
    const credential = createTokenCredential(tokens);

    await expect(
      credential.getToken(authority.apiScope, { tenantId: other }),
    ).rejects.toMatchObject({ code: 'tenant_unsupported', tenantId: other });
    // The token it got is its own tenant's, kept as such.
    const own = await credential.getToken(authority.apiScope, { tenantId: home });
    expect(claimsOf(own!.token).tid).toBe(home);
    expect(authority.countTokenRequests({ target: 'managed-identity' })).toBe(1);
  });
});

import { startDevAuthority } from '@app/dev-authority';
import { InvalidRequestError } from '@app/client-credentials';
import { createTokenCredential } from '@app/client-credentials/calling';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
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

  /** A multi-tenant app of `home`, consented to in two customer tenants. */
  async function start() {
    const home = authority.createTenant();
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
        api: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
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

import { CredentialUnavailableError, ManagedIdentityCredential } from '@azure/identity';
import { startDevAuthority, type ManagedIdentity } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { trustingHttpClient } from '../support/trusting-http-client';

const [authority] = useFixtures(startDevAuthority);

/**
 * Fidelity: unmodified @azure/identity `ManagedIdentityCredential` (msal-node underneath, with the
 * SDK's own IMDS retry policy) gets IMDS tokens from the local authority through
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST`. Its own jest worker: msal picks its source once per process.
 */
describe('dev-authority IMDS with unmodified @azure/identity ManagedIdentityCredential', () => {
  let http: AuthorityHttp;
  let httpClient: ReturnType<typeof trustingHttpClient>;
  let system: ManagedIdentity;
  let user: ManagedIdentity;
  const env = { ...process.env };

  beforeAll(() => {
    http = new AuthorityHttp(authority);
    httpClient = trustingHttpClient(authority.caPem);
    Object.assign(process.env, authority.imds.environment);
    const tenantId = authority.createTenant().tenantId;
    system = authority.createManagedIdentity({ tenantId, kind: 'system' });
    user = authority.createManagedIdentity({ tenantId, kind: 'user' });
  });
  afterAll(async () => {
    process.env = env;
    await releaseAll(httpClient, http);
  });

  it.each([
    ['system-assigned', () => new ManagedIdentityCredential({ httpClient }), () => system],
    [
      'user-assigned by client id',
      () => new ManagedIdentityCredential({ clientId: user.clientId, httpClient }),
      () => user,
    ],
    [
      'user-assigned by resource id',
      () => new ManagedIdentityCredential({ resourceId: user.resourceId, httpClient }),
      () => user,
    ],
  ])('%s: a token the protected API accepts', async (_, credential, identity) => {
    authority.resetLog();
    const token = await credential().getToken(authority.apiScope);
    const api = await http.callApi(authority.apiUrl, token.token);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(identity().clientId);
    expect(authority.countTokenRequests({ target: 'imds', clientId: identity().clientId })).toBe(1);
  });

  it("an identity the host does not have: CredentialUnavailableError naming IMDS's answer", async () => {
    const credential = new ManagedIdentityCredential({
      clientId: '00000000-0000-0000-0000-0000000000bb',
      httpClient,
    });
    const failure = await credential.getToken(authority.apiScope).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CredentialUnavailableError);
    expect(String(failure)).toContain('Identity not found');
  });

  it('during host maintenance (410) the SDK keeps retrying and gets the token', async () => {
    authority.resetLog();
    authority.imds.maintenance(1000);
    // A fresh identity: msal's process-wide cache holds the others' tokens.
    const fresh = authority.createManagedIdentity({ tenantId: user.tenantId, kind: 'user' });
    const credential = new ManagedIdentityCredential({ clientId: fresh.clientId, httpClient });
    const token = await credential.getToken(authority.apiScope);
    expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
    const statuses = authority.log.filter((e) => e.target === 'imds').map((e) => e.status);
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.slice(0, -1)).toEqual(statuses.slice(0, -1).map(() => 410));
    expect(statuses.length).toBeGreaterThanOrEqual(2);
  }, 30_000);
});

import {
  ManagedIdentityApplication,
  ServerError,
  type ManagedIdentityIdParams,
} from '@azure/msal-node';
import { decodeJwt } from 'jose';
import { startDevAuthority, type ManagedIdentity } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { TrustingNetworkClient } from '../support/trusting-network-client';

const [authority] = useFixtures(startDevAuthority);

/**
 * Fidelity: unmodified msal-node `ManagedIdentityApplication` takes the IMDS path (no App Service,
 * Arc, Cloud Shell or Service Fabric variables) and reaches the local authority's IMDS through
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST`, never 169.254.169.254. msal picks its source once per
 * process: this file is its own jest worker and sets nothing else.
 */
describe('dev-authority IMDS with unmodified msal-node ManagedIdentityApplication', () => {
  let network: TrustingNetworkClient;
  let http: AuthorityHttp;
  let system: ManagedIdentity;
  let user: ManagedIdentity;
  const env = { ...process.env };

  beforeAll(() => {
    network = new TrustingNetworkClient(authority.caPem);
    http = new AuthorityHttp(authority);
    Object.assign(process.env, authority.imds.environment);
    const tenantId = authority.createTenant().tenantId;
    system = authority.createManagedIdentity({ tenantId, kind: 'system' });
    user = authority.createManagedIdentity({ tenantId, kind: 'user' });
  });
  afterAll(async () => {
    process.env = env;
    await releaseAll(network, http);
  });

  const app = (managedIdentityIdParams?: ManagedIdentityIdParams) =>
    new ManagedIdentityApplication({ managedIdentityIdParams, system: { networkClient: network } });

  it('msal detects IMDS', () => {
    expect(app().getManagedIdentitySource()).toBe('DefaultToImds');
  });

  it.each([
    ['system-assigned', () => undefined, () => system],
    ['user-assigned by client id', () => ({ userAssignedClientId: user.clientId }), () => user],
    ['user-assigned by object id', () => ({ userAssignedObjectId: user.objectId }), () => user],
    [
      'user-assigned by resource id',
      () => ({ userAssignedResourceId: user.resourceId }),
      () => user,
    ],
  ])('%s: a token the protected API accepts, one IMDS request', async (_, ids, identity) => {
    authority.resetLog();
    const result = await app(ids()).acquireToken({ resource: 'api://dev-api', forceRefresh: true });
    const api = await http.callApi(authority.apiUrl, result.accessToken);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(identity().clientId);
    expect(decodeJwt(result.accessToken)).toMatchObject({ oid: identity().objectId });
    expect(authority.countTokenRequests({ target: 'imds' })).toBe(1);
    expect(authority.log.at(-2)).toMatchObject({
      target: 'imds',
      // msal's URL normaliser adds a trailing slash; IMDS answers either.
      path: expect.stringMatching(/^\/metadata\/identity\/oauth2\/token\/?$/),
      clientId: identity().clientId,
      scope: 'api://dev-api/.default',
      outcome: 'ok',
    });
  });

  it('an identity the host does not have: IMDS 400 "Identity not found", not retried by msal', async () => {
    authority.resetLog();
    const unknown = '00000000-0000-0000-0000-0000000000aa';
    const failure = await app({ userAssignedClientId: unknown })
      .acquireToken({ resource: 'api://dev-api' })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ServerError);
    expect(failure).toMatchObject({ errorCode: 'invalid_request' });
    expect((failure as ServerError).errorMessage).toContain('Identity not found');
    expect(authority.countTokenRequests({ target: 'imds' })).toBe(1);
  });

  it('during host maintenance (410) msal retries, and gets the token once IMDS is back', async () => {
    authority.resetLog();
    // msal waits 10 s after a 410: one 410 answer is enough to see it retried.
    authority.imds.maintenance(1000);
    const result = await app({ userAssignedClientId: user.clientId }).acquireToken({
      resource: 'api://dev-api',
      forceRefresh: true,
    });
    expect((await http.callApi(authority.apiUrl, result.accessToken)).status).toBe(200);
    expect(authority.log.filter((e) => e.target === 'imds').map((e) => e.status)).toEqual([
      410, 200,
    ]);
  }, 30_000);

  it('IMDS refuses a request without the Metadata header', async () => {
    const answer = await http.get(
      `${authority.imds.host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://dev-api`,
    );
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: 'invalid_request',
      error_description: 'Required metadata header not specified',
    });
  });
});

import { ConfidentialClientApplication, ManagedIdentityApplication } from '@azure/msal-node';
import { decodeJwt } from 'jose';
import { startDevAuthority, TOKEN_EXCHANGE_AUDIENCE, type Tenant } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { TrustingNetworkClient } from '../support/trusting-network-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

describe('dev-authority managed identity (App Service) and federated credentials with msal-node', () => {
  let tenant: Tenant;
  let network: TrustingNetworkClient;
  let http: AuthorityHttp;
  const savedEnv = { ...process.env };

  beforeAll(() => {
    tenant = authority.createTenant();
    network = new TrustingNetworkClient(authority.caPem);
    http = new AuthorityHttp(authority);
    // msal picks the managed identity source from these when the application object is created.
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });

  afterAll(async () => {
    for (const key of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER']) {
      if (savedEnv[key] === undefined) delete process.env[key];
      else process.env[key] = savedEnv[key];
    }
    await releaseAll(network, http);
  });

  const cca = (clientId: string, clientAssertion: () => Promise<string>) =>
    new ConfidentialClientApplication({
      auth: {
        clientId,
        clientAssertion,
        authority: `${authority.url}/${tenant.tenantId}`,
        knownAuthorities: [authority.host],
      },
      system: { networkClient: network },
    });

  it('ManagedIdentityApplication, system-assigned: token accepted by the API', async () => {
    const system = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'system' });
    const mi = new ManagedIdentityApplication({ system: { networkClient: network } });
    const result = await mi.acquireToken({ resource: 'api://dev-api' });
    const api = await http.callApi(authority.apiUrl, result.accessToken);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(system.clientId);
    expect(decodeJwt(result.accessToken)).toMatchObject({
      oid: system.objectId,
      xms_mirid: system.resourceId,
    });
    expect(
      authority.countTokenRequests({ clientId: system.clientId, target: 'managed-identity' }),
    ).toBe(1);
  });

  it('ManagedIdentityApplication, user-assigned by client id', async () => {
    const user = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'user' });
    const mi = new ManagedIdentityApplication({
      managedIdentityIdParams: { userAssignedClientId: user.clientId },
      system: { networkClient: network },
    });
    const result = await mi.acquireToken({ resource: 'api://dev-api' });
    const api = await http.callApi(authority.apiUrl, result.accessToken);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(user.clientId);
    expect(authority.log.at(-2)).toMatchObject({
      target: 'managed-identity',
      clientId: user.clientId,
      credentialKind: 'managed-identity',
      scope: 'api://dev-api/.default',
      outcome: 'ok',
    });
  });

  it('managed identity endpoint refuses a wrong X-IDENTITY-HEADER', async () => {
    const answer = await http.get(
      `${authority.managedIdentity.endpoint}?api-version=2019-08-01&resource=api://dev-api`,
      { 'x-identity-header': 'wrong' },
    );
    expect(answer.status).toBe(401);
  });

  it('managed identity as a federated credential (MI token for api://AzureADTokenExchange)', async () => {
    const user = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'user' });
    const app = tenant.createApp();
    app.addFederatedCredential({
      issuer: `${authority.url}/${tenant.tenantId}/v2.0`,
      subject: user.objectId,
    });
    const mi = new ManagedIdentityApplication({
      managedIdentityIdParams: { userAssignedClientId: user.clientId },
      system: { networkClient: network },
    });
    const assertion = async () =>
      (await mi.acquireToken({ resource: TOKEN_EXCHANGE_AUDIENCE })).accessToken;
    const result = await cca(app.clientId, assertion).acquireTokenByClientCredential({
      scopes: [authority.apiScope],
    });
    const api = await http.callApi(authority.apiUrl, result!.accessToken);
    expect(api.json).toMatchObject({ ok: true, appid: app.clientId });
    expect(authority.log.find((e) => e.clientId === app.clientId)?.credentialKind).toBe(
      'federated',
    );
  });

  it('workload identity: a Kubernetes service-account token from the external issuer', async () => {
    const app = tenant.createApp();
    const subject = 'system:serviceaccount:default:api';
    app.addFederatedCredential({ issuer: authority.externalIssuer.url, subject });
    const result = await cca(app.clientId, () =>
      authority.externalIssuer.mintToken({ subject }),
    ).acquireTokenByClientCredential({ scopes: [authority.apiScope] });
    expect((await http.callApi(authority.apiUrl, result!.accessToken)).status).toBe(200);
    const discovery = await http.get(
      `${authority.externalIssuer.url}/.well-known/openid-configuration`,
    );
    expect(discovery.json.issuer).toBe(authority.externalIssuer.url);
    expect((await http.get(discovery.json.jwks_uri)).json.keys).toHaveLength(1);
  });

  describe('federated token mismatches', () => {
    const subject = 'system:serviceaccount:default:api';
    let clientId: string;
    const tokenUrl = () => `${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`;
    const exchange = (assertion: string) =>
      http.postForm(tokenUrl(), {
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
        scope: authority.apiScope,
      });

    beforeAll(() => {
      const app = tenant.createApp();
      clientId = app.clientId;
      app.addFederatedCredential({ issuer: authority.externalIssuer.url, subject });
    });

    it('wrong subject: AADSTS700213 naming issuer, subject and audience', async () => {
      const answer = await exchange(
        await authority.externalIssuer.mintToken({ subject: 'system:serviceaccount:x:y' }),
      );
      expect(answer.status).toBe(401);
      expect(answer.json).toMatchObject({ error: 'invalid_client', error_codes: [700213] });
      expect(answer.json.error_description).toMatch(/^AADSTS700213: /);
      expect(answer.json.error_description).toContain(
        `Assertion Issuer: '${authority.externalIssuer.url}'`,
      );
      expect(answer.json.error_description).toContain(
        "Assertion Subject: 'system:serviceaccount:x:y'",
      );
      expect(answer.json.error_description).toContain(
        `Assertion Audience: '${TOKEN_EXCHANGE_AUDIENCE}'`,
      );
    });

    it('wrong audience: AADSTS700212', async () => {
      const answer = await exchange(
        await authority.externalIssuer.mintToken({ subject, audience: 'api://other' }),
      );
      expect(answer.json).toMatchObject({ error: 'invalid_client', error_codes: [700212] });
    });

    it('wrong issuer: AADSTS700211', async () => {
      const mi = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'user' });
      const miToken = await http.get(
        `${authority.managedIdentity.endpoint}?api-version=2019-08-01&resource=${TOKEN_EXCHANGE_AUDIENCE}&client_id=${mi.clientId}`,
        { 'x-identity-header': authority.managedIdentity.header },
      );
      const answer = await exchange(miToken.json.access_token);
      expect(answer.json).toMatchObject({ error: 'invalid_client', error_codes: [700211] });
    });

    it('expired federated token: AADSTS700024', async () => {
      const token = await authority.externalIssuer.mintToken({ subject, lifetimeSeconds: -600 });
      const answer = await exchange(token);
      expect(answer.json).toMatchObject({ error: 'invalid_client', error_codes: [700024] });
    });
  });
});

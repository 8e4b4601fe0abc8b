import { ConfidentialClientApplication } from '@azure/msal-node';
import { startDevAuthority, type DevAuthority, type Tenant } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { TrustingNetworkClient } from '../support/trusting-network-client';

describe('dev-authority with unmodified msal-node ConfidentialClientApplication', () => {
  let authority: DevAuthority;
  let tenant: Tenant;
  let network: TrustingNetworkClient;
  let http: AuthorityHttp;

  beforeAll(async () => {
    authority = await startDevAuthority();
    tenant = authority.createTenant();
    network = new TrustingNetworkClient(authority.caPem);
    http = new AuthorityHttp(authority);
  });

  afterAll(async () => {
    await network.close();
    await http.close();
    await authority.close();
  });

  const cca = (clientId: string, credentials: Record<string, unknown>) =>
    new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `${authority.url}/${tenant.tenantId}`,
        knownAuthorities: [authority.host],
        ...credentials,
      },
      system: { networkClient: network },
    });

  it('listens on loopback only', () => {
    expect(new URL(authority.url).hostname).toBe('127.0.0.1');
  });

  it('issues a token for a client secret that the protected API accepts', async () => {
    const app = tenant.createApp();
    const result = await cca(app.clientId, {
      clientSecret: app.addSecret(),
    }).acquireTokenByClientCredential({
      scopes: [authority.apiScope],
    });
    expect(result?.accessToken).toBeTruthy();
    expect(result?.tokenType).toBe('Bearer');
    const api = await http.callApi(authority.apiUrl, result!.accessToken);
    expect(api.status).toBe(200);
    expect(api.json).toMatchObject({ ok: true, appid: app.clientId, tid: tenant.tenantId });
    expect(authority.countTokenRequests({ clientId: app.clientId })).toBe(1);
    const entry = authority.log.find((e) => e.clientId === app.clientId && e.target === 'token');
    expect(entry).toMatchObject({
      credentialKind: 'secret',
      outcome: 'ok',
      scope: authority.apiScope,
    });
  });

  it('issues a token for a certificate (thumbprintSha256 + privateKey, PS256)', async () => {
    const app = tenant.createApp();
    const cert = await app.addCertificate();
    const result = await cca(app.clientId, {
      clientCertificate: {
        thumbprintSha256: cert.thumbprintSha256,
        privateKey: cert.privateKeyPem,
      },
    }).acquireTokenByClientCredential({ scopes: [authority.apiScope] });
    const api = await http.callApi(authority.apiUrl, result!.accessToken);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(app.clientId);
    const entry = authority.log.find((e) => e.clientId === app.clientId && e.target === 'token');
    expect(entry).toMatchObject({ credentialKind: 'certificate', outcome: 'ok' });
    expect(entry?.jti).toEqual(expect.any(String));
  });
});

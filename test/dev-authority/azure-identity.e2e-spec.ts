import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  type TokenCredential,
} from '@azure/identity';
import { startDevAuthority, type Tenant } from '@app/dev-authority';
import { signClientAssertion } from '../support/client-assertion';
import { AuthorityHttp } from '../support/dev-authority-client';
import { trustingHttpClient } from '../support/trusting-http-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

describe('dev-authority with unmodified @azure/identity credentials', () => {
  let tenant: Tenant;
  let http: AuthorityHttp;
  let httpClient: ReturnType<typeof trustingHttpClient>;

  beforeAll(() => {
    tenant = authority.createTenant();
    http = new AuthorityHttp(authority);
    httpClient = trustingHttpClient(authority.caPem);
  });

  afterAll(async () => {
    await releaseAll(httpClient, http);
  });

  const options = () => ({
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
    httpClient,
    retryOptions: { maxRetries: 0 },
  });

  async function expectApiAccepts(credential: TokenCredential, clientId: string): Promise<void> {
    const token = await credential.getToken(authority.apiScope);
    expect(token?.token).toBeTruthy();
    const api = await http.callApi(authority.apiUrl, token!.token);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(clientId);
  }

  it('ClientSecretCredential', async () => {
    const app = tenant.createApp();
    const credential = new ClientSecretCredential(
      tenant.tenantId,
      app.clientId,
      app.addSecret(),
      options(),
    );
    await expectApiAccepts(credential, app.clientId);
    expect(authority.countTokenRequests({ clientId: app.clientId, outcome: 'ok' })).toBe(1);
  });

  it('ClientCertificateCredential without the chain (uploaded certificate)', async () => {
    const app = tenant.createApp();
    const cert = await app.addCertificate();
    const credential = new ClientCertificateCredential(
      tenant.tenantId,
      app.clientId,
      { certificate: cert.certificatePem + cert.privateKeyPem },
      options(),
    );
    await expectApiAccepts(credential, app.clientId);
    expect(authority.log.find((e) => e.clientId === app.clientId)?.credentialKind).toBe(
      'certificate',
    );
  });

  it('ClientCertificateCredential with sendCertificateChain (subject name + issuer)', async () => {
    const app = tenant.createApp();
    const sni = await app.addSniCertificate();
    const credential = new ClientCertificateCredential(
      tenant.tenantId,
      app.clientId,
      { certificate: sni.chainPem + sni.privateKeyPem },
      { ...options(), sendCertificateChain: true },
    );
    await expectApiAccepts(credential, app.clientId);
    expect(authority.log.find((e) => e.clientId === app.clientId)?.credentialKind).toBe(
      'sni-certificate',
    );
  });

  it('ClientAssertionCredential', async () => {
    const app = tenant.createApp();
    const cert = await app.addCertificate();
    const credential = new ClientAssertionCredential(
      tenant.tenantId,
      app.clientId,
      () =>
        signClientAssertion({
          privateKeyPem: cert.privateKeyPem,
          thumbprintSha256: cert.thumbprintSha256,
          clientId: app.clientId,
          audience: `${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`,
        }),
      options(),
    );
    await expectApiAccepts(credential, app.clientId);
  });

  it('ClientAssertionCredential with a Kubernetes service-account token (workload identity)', async () => {
    const app = tenant.createApp();
    const subject = 'system:serviceaccount:payments:worker';
    app.addFederatedCredential({ issuer: authority.externalIssuer.url, subject });
    const credential = new ClientAssertionCredential(
      tenant.tenantId,
      app.clientId,
      () => authority.externalIssuer.mintToken({ subject }),
      options(),
    );
    await expectApiAccepts(credential, app.clientId);
    expect(authority.log.find((e) => e.clientId === app.clientId)?.credentialKind).toBe(
      'federated',
    );
  });
});

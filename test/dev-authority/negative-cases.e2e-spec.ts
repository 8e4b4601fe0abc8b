import { ConfidentialClientApplication, ServerError } from '@azure/msal-node';
import { startDevAuthority, type App, type Tenant } from '@app/dev-authority';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import { signClientAssertion } from '../support/client-assertion';
import { AuthorityHttp, type HttpAnswer } from '../support/dev-authority-client';
import { TrustingNetworkClient } from '../support/trusting-network-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Asserts Entra's error body shape, status and AADSTS code. */
function expectEntraError(answer: HttpAnswer, status: number, error: string, code: number): void {
  expect(answer.status).toBe(status);
  expect(answer.json).toMatchObject({
    error,
    error_codes: [code],
    timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
    trace_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    error_uri: expect.stringContaining(`code=${code}`),
  });
  expect(answer.json.error_description).toMatch(
    new RegExp(
      `^AADSTS${code}: [\\s\\S]+\\r\\nTrace ID: .+\\r\\nCorrelation ID: .+\\r\\nTimestamp: .+$`,
    ),
  );
}

const [authority] = useFixtures(startDevAuthority);

describe('dev-authority negative cases: Entra error codes and bodies', () => {
  let tenant: Tenant;
  let http: AuthorityHttp;
  let tokenUrl: string;
  let certApp: App;
  let cert: Awaited<ReturnType<App['addCertificate']>>;

  beforeAll(async () => {
    tenant = authority.createTenant();
    http = new AuthorityHttp(authority);
    tokenUrl = `${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`;
    certApp = tenant.createApp();
    cert = await certApp.addCertificate();
  });

  afterAll(async () => {
    await releaseAll(http);
  });

  const secretRequest = (clientId: string, secret: string, scope = authority.apiScope) => ({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: secret,
    scope,
  });
  const assertionRequest = (clientId: string, assertion: string) => ({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion,
    scope: authority.apiScope,
  });
  const certAssertion = (overrides: Partial<Parameters<typeof signClientAssertion>[0]> = {}) =>
    signClientAssertion({
      privateKeyPem: cert.privateKeyPem,
      thumbprintSha256: cert.thumbprintSha256,
      clientId: certApp.clientId,
      audience: tokenUrl,
      ...overrides,
    });

  it('wrong secret: 401 invalid_client AADSTS7000215, correlation id echoed', async () => {
    const app = tenant.createApp();
    app.addSecret();
    const answer = await http.postForm(
      `${tokenUrl}?client-request-id=c0ffee00-0000-4000-8000-000000000001`,
      secretRequest(app.clientId, 'nope'),
    );
    expectEntraError(answer, 401, 'invalid_client', 7000215);
    expect(answer.json.correlation_id).toBe('c0ffee00-0000-4000-8000-000000000001');
  });

  it('wrong secret through msal-node: ServerError with errorNo 7000215', async () => {
    const app = tenant.createApp();
    app.addSecret();
    const network = new TrustingNetworkClient(authority.caPem);
    const cca = new ConfidentialClientApplication({
      auth: {
        clientId: app.clientId,
        clientSecret: 'nope',
        authority: `${authority.url}/${tenant.tenantId}`,
        knownAuthorities: [authority.host],
      },
      system: { networkClient: network },
    });
    const error = await cca
      .acquireTokenByClientCredential({ scopes: [authority.apiScope] })
      .catch((e: unknown) => e);
    await network.close();
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ errorCode: 'invalid_client', errorNo: 7000215, status: 401 });
  });

  it('secret by HTTP Basic authentication works; a wrong one is 7000215', async () => {
    const app = tenant.createApp();
    const secret = app.addSecret();
    const basic = (s: string) =>
      `Basic ${Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(s)}`).toString('base64')}`;
    const form = { grant_type: 'client_credentials', scope: authority.apiScope };
    const good = await http.postForm(tokenUrl, form, { authorization: basic(secret) });
    expect(good.status).toBe(200);
    expect(good.json).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      ext_expires_in: 3600,
    });
    expect(good.json.refresh_in).toBeUndefined();
    expectEntraError(
      await http.postForm(tokenUrl, form, { authorization: basic('nope') }),
      401,
      'invalid_client',
      7000215,
    );
  });

  it('expired secret: 401 AADSTS7000222', async () => {
    const app = tenant.createApp();
    const secret = app.addSecret({ expiresAt: new Date(Date.now() - 1000) });
    expectEntraError(
      await http.postForm(tokenUrl, secretRequest(app.clientId, secret)),
      401,
      'invalid_client',
      7000222,
    );
  });

  it('unknown app: 400 unauthorized_client AADSTS700016', async () => {
    const answer = await http.postForm(
      tokenUrl,
      secretRequest('11111111-2222-4333-8444-555555555555', 'x'),
    );
    expectEntraError(answer, 400, 'unauthorized_client', 700016);
  });

  it('unknown tenant: 400 AADSTS90002 (token and discovery)', async () => {
    const url = `${authority.url}/22222222-2222-4222-8222-222222222222/oauth2/v2.0/token`;
    expectEntraError(
      await http.postForm(url, secretRequest('x', 'y')),
      400,
      'invalid_request',
      90002,
    );
    const discovery = await http.get(
      `${authority.url}/22222222-2222-4222-8222-222222222222/v2.0/.well-known/openid-configuration`,
    );
    expectEntraError(discovery, 400, 'invalid_request', 90002);
  });

  it('meta-tenants: /common and /consumers AADSTS9001023, /organizations AADSTS50059', async () => {
    for (const meta of ['common', 'consumers']) {
      const answer = await http.postForm(
        `${authority.url}/${meta}/oauth2/v2.0/token`,
        secretRequest('x', 'y'),
      );
      expectEntraError(answer, 400, 'invalid_request', 9001023);
    }
    const orgs = await http.postForm(
      `${authority.url}/organizations/oauth2/v2.0/token`,
      secretRequest('x', 'y'),
    );
    expectEntraError(orgs, 400, 'invalid_request', 50059);
  });

  it('non-.default scope: 400 invalid_scope AADSTS1002012', async () => {
    const app = tenant.createApp();
    const secret = app.addSecret();
    const answer = await http.postForm(
      tokenUrl,
      secretRequest(app.clientId, secret, 'api://dev-api/Data.Read'),
    );
    expectEntraError(answer, 400, 'invalid_scope', 1002012);
  });

  it('unknown resource: 400 invalid_resource AADSTS500011', async () => {
    const app = tenant.createApp();
    const secret = app.addSecret();
    const answer = await http.postForm(
      tokenUrl,
      secretRequest(app.clientId, secret, 'api://nobody/.default'),
    );
    expectEntraError(answer, 400, 'invalid_resource', 500011);
    expect(answer.json.error_description).toContain('api://nobody');
  });

  it('accepts both x5t#S256 (PS256) and x5t (RS256) assertions', async () => {
    const ps256 = await http.postForm(
      tokenUrl,
      assertionRequest(certApp.clientId, await certAssertion()),
    );
    expect(ps256.status).toBe(200);
    const rs256 = await certAssertion({
      thumbprintSha256: undefined,
      thumbprintSha1: cert.thumbprintSha1,
    });
    expect((await http.postForm(tokenUrl, assertionRequest(certApp.clientId, rs256))).status).toBe(
      200,
    );
  });

  it('does not enforce jti replay (Entra accepts msal reusing one assertion for 10 minutes)', async () => {
    const assertion = await certAssertion();
    expect(
      (await http.postForm(tokenUrl, assertionRequest(certApp.clientId, assertion))).status,
    ).toBe(200);
    expect(
      (await http.postForm(tokenUrl, assertionRequest(certApp.clientId, assertion))).status,
    ).toBe(200);
  });

  it('unregistered certificate: 401 AADSTS700027', async () => {
    const other = await tenant.createApp().addCertificate();
    const assertion = await certAssertion({
      privateKeyPem: other.privateKeyPem,
      thumbprintSha256: other.thumbprintSha256,
    });
    const answer = await http.postForm(tokenUrl, assertionRequest(certApp.clientId, assertion));
    expectEntraError(answer, 401, 'invalid_client', 700027);
    expect(answer.json.error_description).toContain(other.thumbprintSha256);
  });

  it('registered thumbprint but signed with another key: 401 AADSTS700027', async () => {
    const other = await tenant.createApp().addCertificate();
    const assertion = await certAssertion({ privateKeyPem: other.privateKeyPem });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(certApp.clientId, assertion)),
      401,
      'invalid_client',
      700027,
    );
  });

  it('expired assertion and not-yet-valid assertion: 401 AADSTS700024 (beyond the 5-minute tolerance)', async () => {
    const expired = await certAssertion({ issuedAtOffset: -3600, lifetimeSeconds: 600 });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(certApp.clientId, expired)),
      401,
      'invalid_client',
      700024,
    );
    const future = await certAssertion({ issuedAtOffset: 3600 });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(certApp.clientId, future)),
      401,
      'invalid_client',
      700024,
    );
    const withinTolerance = await certAssertion({ issuedAtOffset: 120 });
    expect(
      (await http.postForm(tokenUrl, assertionRequest(certApp.clientId, withinTolerance))).status,
    ).toBe(200);
  });

  it('wrong audience: 401 AADSTS700023', async () => {
    const assertion = await certAssertion({
      audience: 'https://login.microsoftonline.com/x/oauth2/v2.0/token',
    });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(certApp.clientId, assertion)),
      401,
      'invalid_client',
      700023,
    );
  });

  it("the issuer as audience (…/{tenant}/v2.0, not the token endpoint): 401 AADSTS700023; v1.0's endpoint is one", async () => {
    const issuer = await certAssertion({ audience: `${authority.url}/${tenant.tenantId}/v2.0` });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(certApp.clientId, issuer)),
      401,
      'invalid_client',
      700023,
    );
    const v1 = await certAssertion({
      audience: `${authority.url}/${tenant.tenantId}/oauth2/token`,
    });
    expect((await http.postForm(tokenUrl, assertionRequest(certApp.clientId, v1))).status).toBe(
      200,
    );
  });

  it('assertion sub not matching iss: 401 AADSTS50048', async () => {
    const assertion = await certAssertion({ subject: 'someone-else' });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(certApp.clientId, assertion)),
      401,
      'invalid_client',
      50048,
    );
  });

  it('SNI chain not leading to the trusted root: 401 AADSTS50012', async () => {
    const app = tenant.createApp();
    const good = await app.addSniCertificate();
    const rogueRoot = await createCa('rogue root');
    const rogueIntermediate = await issueCertificate({
      subject: 'CN=rogue intermediate',
      issuer: rogueRoot,
      kind: 'intermediate',
    });
    const rogueLeaf = await issueCertificate({
      subject: good.subject,
      issuer: rogueIntermediate,
      kind: 'client',
    });
    const { X509Certificate } = await import('node:crypto');
    const sha256 = new X509Certificate(rogueLeaf.certificatePem).fingerprint256.replace(/:/g, '');
    const assertion = await signClientAssertion({
      privateKeyPem: rogueLeaf.privateKeyPem,
      thumbprintSha256: sha256,
      chainPem: rogueLeaf.certificatePem + rogueIntermediate.certificatePem,
      clientId: app.clientId,
      audience: tokenUrl,
    });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(app.clientId, assertion)),
      401,
      'invalid_client',
      50012,
    );
    // The genuine chain passes.
    const genuine = await signClientAssertion({
      privateKeyPem: good.privateKeyPem,
      thumbprintSha256: good.thumbprintSha256,
      chainPem: good.chainPem,
      clientId: app.clientId,
      audience: tokenUrl,
    });
    expect((await http.postForm(tokenUrl, assertionRequest(app.clientId, genuine))).status).toBe(
      200,
    );
  });

  it('SNI certificate with an unregistered subject: 401 AADSTS700030', async () => {
    const app = tenant.createApp();
    const other = await tenant.createApp().addSniCertificate();
    const assertion = await signClientAssertion({
      privateKeyPem: other.privateKeyPem,
      thumbprintSha256: other.thumbprintSha256,
      chainPem: other.chainPem,
      clientId: app.clientId,
      audience: tokenUrl,
    });
    expectEntraError(
      await http.postForm(tokenUrl, assertionRequest(app.clientId, assertion)),
      401,
      'invalid_client',
      700030,
    );
  });

  it('no credential at all: 400 AADSTS7000218', async () => {
    const app = tenant.createApp();
    const answer = await http.postForm(tokenUrl, {
      grant_type: 'client_credentials',
      client_id: app.clientId,
      scope: authority.apiScope,
    });
    expectEntraError(answer, 400, 'invalid_request', 7000218);
  });

  it('logs each failure with its AADSTS code and outcome "error"', () => {
    const errors = authority.log.filter((e) => e.target === 'token' && e.outcome === 'error');
    expect(errors.length).toBeGreaterThan(10);
    expect(errors.every((e) => typeof e.errorCode === 'number' && e.status >= 400)).toBe(true);
  });
});

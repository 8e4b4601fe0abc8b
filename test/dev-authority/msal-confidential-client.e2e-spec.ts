import { readFile } from 'node:fs/promises';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { startDevAuthority, type Tenant } from '@app/dev-authority';
import { signClientAssertion } from '../support/client-assertion';
import { AuthorityHttp } from '../support/dev-authority-client';
import { TrustingNetworkClient } from '../support/trusting-network-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

describe('dev-authority with unmodified msal-node ConfidentialClientApplication', () => {
  let tenant: Tenant;
  let network: TrustingNetworkClient;
  let http: AuthorityHttp;

  beforeAll(() => {
    tenant = authority.createTenant();
    network = new TrustingNetworkClient(authority.caPem);
    http = new AuthorityHttp(authority);
  });

  afterAll(async () => {
    await releaseAll(network, http);
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

  it('listens on loopback only', async () => {
    expect(new URL(authority.url).hostname).toBe('127.0.0.1');
    // The kernel's socket table: the listening socket is bound to 127.0.0.1 (0100007F), not 0.0.0.0.
    const port = Number(new URL(authority.url).port);
    const table = await readFile('/proc/net/tcp', 'utf8').catch(() => undefined);
    if (table === undefined) return;
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    const listening = table
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A');
    expect(listening.map((cols) => cols[1])).toEqual([`0100007F:${hexPort}`]);
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

  it('issues a token for a subject name + issuer certificate (clientCertificate.x5c)', async () => {
    const app = tenant.createApp();
    const sni = await app.addSniCertificate();
    const result = await cca(app.clientId, {
      clientCertificate: {
        thumbprintSha256: sni.thumbprintSha256,
        privateKey: sni.privateKeyPem,
        x5c: sni.chainPem,
      },
    }).acquireTokenByClientCredential({ scopes: [authority.apiScope] });
    expect((await http.callApi(authority.apiUrl, result!.accessToken)).json.appid).toBe(
      app.clientId,
    );
    const entry = authority.log.find((e) => e.clientId === app.clientId && e.target === 'token');
    expect(entry).toMatchObject({ credentialKind: 'sni-certificate', outcome: 'ok' });
  });

  it('issues a token for a clientAssertion callback (fresh assertion each time)', async () => {
    const app = tenant.createApp();
    const cert = await app.addCertificate();
    const client = cca(app.clientId, {
      clientAssertion: (options: { tokenEndpoint: string }) =>
        signClientAssertion({
          privateKeyPem: cert.privateKeyPem,
          thumbprintSha256: cert.thumbprintSha256,
          clientId: app.clientId,
          audience: options.tokenEndpoint,
        }),
    });
    const first = await client.acquireTokenByClientCredential({ scopes: [authority.apiScope] });
    const second = await client.acquireTokenByClientCredential({
      scopes: [authority.apiScope],
      skipCache: true,
    });
    expect((await http.callApi(authority.apiUrl, first!.accessToken)).status).toBe(200);
    expect(second?.fromCache).toBe(false);
    const jtis = authority.log
      .filter((e) => e.clientId === app.clientId && e.target === 'token')
      .map((e) => e.jti);
    expect(jtis).toHaveLength(2);
    expect(new Set(jtis).size).toBe(2);
  });

  it('serves msal its discovery document with a matching issuer', async () => {
    const doc = await http.get(
      `${authority.url}/${tenant.tenantId}/v2.0/.well-known/openid-configuration`,
    );
    expect(doc.json).toMatchObject({
      issuer: `${authority.url}/${tenant.tenantId}/v2.0`,
      token_endpoint: `${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`,
      jwks_uri: `${authority.url}/${tenant.tenantId}/discovery/v2.0/keys`,
    });
  });
});

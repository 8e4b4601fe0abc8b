import { AuthError, ConfidentialClientApplication } from '@azure/msal-node';
import { decodeJwt } from 'jose';
import { startDevAuthority, type App, type Tenant } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { TrustingNetworkClient } from '../support/trusting-network-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

describe('dev-authority faults, lifetimes, counters and request log', () => {
  let tenant: Tenant;
  let app: App;
  let secret: string;
  let http: AuthorityHttp;
  let tokenUrl: string;

  beforeAll(() => {
    tenant = authority.createTenant();
    app = tenant.createApp();
    secret = app.addSecret();
    http = new AuthorityHttp(authority);
    tokenUrl = `${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`;
  });

  afterEach(() => {
    authority.faults.clear();
    authority.resetLog();
  });

  afterAll(async () => {
    await releaseAll(http);
  });

  const request = () =>
    http.postForm(tokenUrl, {
      grant_type: 'client_credentials',
      client_id: app.clientId,
      client_secret: secret,
      scope: authority.apiScope,
    });

  it('status 503: Entra-style body, applied `times` times, then normal answers', async () => {
    authority.faults.add({ kind: 'status', status: 503, times: 2 });
    const first = await request();
    expect(first.status).toBe(503);
    expect(first.json).toMatchObject({ error: 'temporarily_unavailable', error_codes: [90006] });
    expect((await request()).status).toBe(503);
    expect((await request()).status).toBe(200);
    expect(authority.countTokenRequests({ outcome: 'fault' })).toBe(2);
    expect(authority.countTokenRequests({ outcome: 'ok' })).toBe(1);
    expect(
      authority.countTokenRequests({ clientId: app.clientId, tenantId: tenant.tenantId }),
    ).toBe(3);
  });

  it('status 500 with an AADSTS code', async () => {
    authority.faults.add({ kind: 'status', status: 500, times: 1 });
    const answer = await request();
    expect(answer.status).toBe(500);
    expect(answer.json.error_description).toMatch(/^AADSTS50000: /);
  });

  it('throttle: 429 with Retry-After', async () => {
    authority.faults.add({ kind: 'throttle', retryAfterSeconds: 7, times: 1 });
    const answer = await request();
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('7');
  });

  it('reset: msal-node sees a network error', async () => {
    authority.faults.add({ kind: 'reset' });
    const network = new TrustingNetworkClient(authority.caPem);
    const cca = new ConfidentialClientApplication({
      auth: {
        clientId: app.clientId,
        clientSecret: secret,
        authority: `${authority.url}/${tenant.tenantId}`,
        knownAuthorities: [authority.host],
        authorityMetadata: JSON.stringify({
          issuer: `${authority.url}/${tenant.tenantId}/v2.0`,
          authorization_endpoint: `${authority.url}/${tenant.tenantId}/oauth2/v2.0/authorize`,
          token_endpoint: tokenUrl,
          jwks_uri: `${authority.url}/${tenant.tenantId}/discovery/v2.0/keys`,
        }),
      },
      system: { networkClient: network },
    });
    const error = await cca
      .acquireTokenByClientCredential({ scopes: [authority.apiScope] })
      .catch((e: unknown) => e);
    await network.close();
    expect(error).toBeInstanceOf(AuthError);
    expect(authority.log.filter((e) => e.fault === 'reset')).toHaveLength(1);
  });

  it('html502 and non-json bodies', async () => {
    authority.faults.add({ kind: 'html502', times: 1 });
    const html = await request();
    expect(html.status).toBe(502);
    expect(html.text).toContain('<html>');
    authority.faults.add({ kind: 'non-json', times: 1 });
    const nonJson = await request();
    expect(nonJson.status).toBe(200);
    expect(nonJson.json).toBeUndefined();
  });

  it('latency delays, then answers normally (loosely timed)', async () => {
    authority.faults.add({ kind: 'latency', latencyMs: 300, times: 1 });
    const started = Date.now();
    expect((await request()).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(authority.log[0]).toMatchObject({ outcome: 'ok', status: 200 });
  });

  it('clock-shift moves iat/nbf/exp of issued tokens', async () => {
    authority.faults.add({ kind: 'clock-shift', clockShiftSeconds: -7200, times: 1 });
    const answer = await request();
    const claims = decodeJwt(answer.json.access_token);
    expect(Math.abs(claims.iat! - (Date.now() / 1000 - 7200))).toBeLessThan(60);
  });

  it('faults filter by tenant and target, and can be removed', async () => {
    const other = authority.createTenant();
    const id = authority.faults.add({ kind: 'status', status: 500, tenantId: other.tenantId });
    expect((await request()).status).toBe(200);
    authority.faults.add({ kind: 'status', status: 500, target: 'discovery', times: 1 });
    const discovery = await http.get(
      `${authority.url}/${tenant.tenantId}/v2.0/.well-known/openid-configuration`,
    );
    expect(discovery.status).toBe(500);
    authority.faults.remove(id);
    authority.faults.add({ kind: 'status', status: 503, target: 'api', times: 1 });
    expect((await http.callApi(authority.apiUrl, 'x')).status).toBe(503);
  });

  it('token lifetime: refresh_in only for long lifetimes or when forced', async () => {
    authority.setAccessTokenLifetime(7200);
    expect((await request()).json).toMatchObject({
      expires_in: 7200,
      ext_expires_in: 7200,
      refresh_in: 3600,
    });
    authority.setAccessTokenLifetime(4, { tenantId: tenant.tenantId, refreshInSeconds: 2 });
    const short = (await request()).json;
    expect(short).toMatchObject({ expires_in: 4, refresh_in: 2 });
    const claims = decodeJwt(short.access_token);
    expect(claims.exp! - claims.iat!).toBe(4);
    authority.setAccessTokenLifetime(3600, { tenantId: tenant.tenantId });
    authority.setAccessTokenLifetime(3600);
  });

  it('issues Entra v2.0 app-token claims', async () => {
    const token = (await request()).json.access_token as string;
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      aud: authority.apiAppId,
      iss: `${authority.url}/${tenant.tenantId}/v2.0`,
      tid: tenant.tenantId,
      azp: app.clientId,
      appid: app.clientId,
      azpacr: '1',
      oid: app.objectId,
      sub: app.objectId,
      idtyp: 'app',
      roles: ['Data.Read'],
      ver: '2.0',
    });
    const keys = await http.get(`${authority.url}/${tenant.tenantId}/discovery/v2.0/keys`);
    const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;
    expect(keys.json.keys.map((k: { kid: string }) => k.kid)).toContain(kid);
  });

  it('protected API: 401 without or with a bad token, 403 without the role, 200 otherwise', async () => {
    expect((await http.get(`${authority.apiUrl}/data`)).status).toBe(401);
    const bad = await http.callApi(authority.apiUrl, 'a.b.c');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"');
    const noRole = tenant.createApp({ roles: [] });
    const noRoleSecret = noRole.addSecret();
    const token = (
      await http.postForm(tokenUrl, {
        grant_type: 'client_credentials',
        client_id: noRole.clientId,
        client_secret: noRoleSecret,
        scope: authority.apiScope,
      })
    ).json.access_token;
    expect((await http.callApi(authority.apiUrl, token)).status).toBe(403);
    const good = (await request()).json.access_token;
    expect((await http.callApi(authority.apiUrl, good)).json).toMatchObject({
      ok: true,
      appid: app.clientId,
    });
    expect(authority.log.filter((e) => e.target === 'api')).toHaveLength(4);
  });

  it('custom resources: scope by App ID URI, roles granted to every client', async () => {
    authority.createResource({ appIdUri: 'api://reports', roles: ['Reports.Read'] });
    const answer = await http.postForm(tokenUrl, {
      grant_type: 'client_credentials',
      client_id: app.clientId,
      client_secret: secret,
      scope: 'api://reports/.default',
    });
    expect(answer.status).toBe(200);
    expect(decodeJwt(answer.json.access_token).roles).toEqual(['Reports.Read']);
    expect(authority.countTokenRequests({ scope: 'api://reports/.default' })).toBe(1);
  });

  it('the control API needs the token and answers loopback callers', async () => {
    const headers = { 'x-control-token': authority.control.token };
    expect((await http.get(`${authority.control.url}/log`)).status).toBe(401);
    const created = await http.postJson(`${authority.control.url}/tenants`, {}, headers);
    expect(created.status).toBe(201);
    const appAnswer = await http.postJson(
      `${authority.control.url}/tenants/${created.json.tenantId}/apps`,
      {},
      headers,
    );
    const secretAnswer = await http.postJson(
      `${authority.control.url}/tenants/${created.json.tenantId}/apps/${appAnswer.json.clientId}/secrets`,
      {},
      headers,
    );
    const token = await http.postForm(
      `${authority.url}/${created.json.tenantId}/oauth2/v2.0/token`,
      {
        grant_type: 'client_credentials',
        client_id: appAnswer.json.clientId,
        client_secret: secretAnswer.json.secret,
        scope: authority.apiScope,
      },
    );
    expect(token.status).toBe(200);
    const counters = await http.get(
      `${authority.control.url}/counters?clientId=${appAnswer.json.clientId}`,
      headers,
    );
    expect(counters.json).toEqual({ tokenRequests: 1 });
  });
});

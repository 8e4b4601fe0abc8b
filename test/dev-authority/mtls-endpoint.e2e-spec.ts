import { decodeJwt } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority, type App, type SniCertificate, type Tenant } from '@app/dev-authority';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

/**
 * The local authority's mTLS listener, spoken to with a plain HTTP client (undici) presenting a
 * certificate or not: what its token endpoint answers, as Entra's mTLS endpoint would.
 */
describe('dev-authority mTLS endpoint (Entra mTLS PoP, emulated)', () => {
  let tenant: Tenant;
  let app: App;
  let sni: SniCertificate;
  const agents: Agent[] = [];

  beforeAll(async () => {
    tenant = authority.createTenant();
    app = tenant.createApp();
    sni = await app.addSniCertificate();
  });
  afterAll(() => releaseAll(...agents));

  const presenting = (certificate?: {
    chainPem?: string;
    certificatePem: string;
    privateKeyPem: string;
  }) => {
    const agent = new Agent({
      connect: {
        ca: [authority.caPem],
        ...(certificate === undefined
          ? {}
          : {
              cert: certificate.chainPem ?? certificate.certificatePem,
              key: certificate.privateKeyPem,
            }),
      },
    });
    agents.push(agent);
    return agent;
  };

  const token = async (dispatcher: Agent, extra: Record<string, string> = {}) => {
    const res = await undiciFetch(`${authority.mtlsUrl}/${tenant.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      dispatcher,
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.clientId,
        scope: authority.apiScope,
        ...extra,
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('issues an mtls_pop token bound to the SN+I certificate of the handshake', async () => {
    const { status, body } = await token(presenting(sni), { token_type: 'mtls_pop' });
    expect(status).toBe(200);
    expect(body.token_type).toBe('mtls_pop');
    const claims = decodeJwt(body.access_token as string);
    expect(claims.cnf).toEqual({
      'x5t#S256': Buffer.from(sni.thumbprintSha256, 'hex').toString('base64url'),
    });
    expect(claims).toMatchObject({ azp: app.clientId, azpacr: '2' });
  });

  it('issues a bearer token, bound to nothing, without token_type', async () => {
    const { body } = await token(presenting(sni));
    expect(body.token_type).toBe('Bearer');
    expect(decodeJwt(body.access_token as string).cnf).toBeUndefined();
  });

  it('refuses what Entra refuses: no certificate, one of no trusted chain, a secret or assertion besides', async () => {
    const aadsts = async (dispatcher: Agent, extra: Record<string, string> = {}) =>
      (await token(dispatcher, { token_type: 'mtls_pop', ...extra })).body.error_codes;
    expect(await aadsts(presenting())).toEqual([7000218]);
    // An uploaded certificate (the authority's own CA) is no SN+I certificate: not chained to its root.
    const uploaded = await app.addCertificate();
    expect(await aadsts(presenting(uploaded))).toEqual([50012]);
    expect(await aadsts(presenting(sni), { client_secret: app.addSecret() })).toEqual([9002313]);
    expect(await aadsts(presenting(sni), { token_type: 'pop' })).toEqual([9002313]);
    const refused = authority.log.filter((e) => e.target === 'token' && e.outcome === 'error');
    expect(refused.map((e) => e.credentialKind)).toEqual(Array(4).fill('mtls-certificate'));
  });
});

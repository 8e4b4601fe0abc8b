import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import { startTokenApp, type TokenApp } from '../support/token-app';

/**
 * Service Fabric's managed identity token service serves HTTPS with the cluster's own certificate,
 * not one of a public CA; the platform gives its thumbprint in IDENTITY_SERVER_THUMBPRINT for the
 * client to pin (as MSAL .NET and the Azure SDKs do). Emulated on loopback: an HTTPS token service
 * with a certificate of a CA nobody trusts, counting the requests it gets. Own jest worker: msal
 * picks its source once per process (the thumbprint is read per credential).
 */
describe('Managed identity on Service Fabric: the token service pinned by its thumbprint', () => {
  const env = { ...process.env };
  const apps: TokenApp[] = [];
  let server: Server;
  let requests = 0;
  let certificate: X509Certificate;
  const resource = 'https://vault.azure.net';

  beforeAll(async () => {
    const ca = await createCa('cluster CA');
    const leaf = await issueCertificate({ subject: 'cluster', issuer: ca, kind: 'server' });
    certificate = new X509Certificate(leaf.certificatePem);
    server = createServer({ key: leaf.privateKeyPem, cert: leaf.certificatePem }, (req, res) => {
      requests++;
      const ok = req.headers.secret === 'header-of-the-test';
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(
        JSON.stringify(
          ok
            ? {
                access_token: 'sf.token.value',
                expires_on: String(Math.floor(Date.now() / 1000) + 3600),
                resource,
                token_type: 'Bearer',
              }
            : { error: 'unauthorized' },
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    process.env.IDENTITY_ENDPOINT = `https://127.0.0.1:${port}/metadata/identity/oauth2/token`;
    process.env.IDENTITY_HEADER = 'header-of-the-test';
  });
  afterAll(async () => {
    process.env = env;
    await Promise.all(apps.map((a) => a.close()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function tokenWith(thumbprint: string) {
    process.env.IDENTITY_SERVER_THUMBPRINT = thumbprint;
    const app = await startTokenApp({
      credentials: { mi: { sources: [{ type: 'managed-identity' }] } },
    });
    apps.push(app);
    expect(app.tokens.getStats('mi').managedIdentityHost).toBe('service-fabric');
    return app.tokens.getAccessToken(`${resource}/.default`);
  }

  const sha1 = () => certificate.fingerprint.replace(/:/g, '');

  it.each([
    ['SHA-1 hex, as Service Fabric gives it', () => sha1()],
    ['SHA-1, lower case with colons', () => certificate.fingerprint.toLowerCase()],
    ['SHA-256', () => certificate.fingerprint256.replace(/:/g, '')],
  ])('the pinned certificate (%s): a token, in one request', async (_how, pin) => {
    requests = 0;
    const token = await tokenWith(pin());
    expect(token.token).toBe('sf.token.value');
    expect(requests).toBe(1);
  });

  it('another certificate: refused after the handshake, nothing sent, an error naming both thumbprints', async () => {
    requests = 0;
    const other = 'AB'.repeat(20);
    const failure = await tokenWith(other).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'source_unavailable' });
    const message = String(failure);
    expect(message).toContain("the service-fabric endpoint's certificate is not trusted");
    expect(message).toContain(sha1().toUpperCase());
    expect(message).toContain(`IDENTITY_SERVER_THUMBPRINT (${other})`);
    expect(requests).toBe(0);
  });

  it('a thumbprint that is none: refused, nothing sent', async () => {
    requests = 0;
    const failure = await tokenWith('not-a-thumbprint').catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'source_unavailable' });
    expect(String(failure)).toContain('is not a SHA-1');
    expect(requests).toBe(0);
  });
});

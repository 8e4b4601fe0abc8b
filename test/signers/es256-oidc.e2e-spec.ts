import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { exportJWK } from 'jose';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import { useFixtures } from '../support/fixtures';
import { localSigner, type LocalSigner } from '../support/local-signer';
import { startOidcAuthority } from '../support/oidc-authority';
import { startTokenApp, type TokenApp } from '../support/token-app';

/** An EC P-256 key and its certificate, issued by a CA of the test's own. */
async function ecCertificate(): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = {
    publicKey: await webcrypto.subtle.importKey(
      'spki',
      pair.publicKey.export({ type: 'spki', format: 'der' }),
      { name: 'ECDSA', namedCurve: 'P-256' },
      true,
      ['verify'],
    ),
    privateKey: await webcrypto.subtle.importKey(
      'pkcs8',
      pair.privateKey.export({ type: 'pkcs8', format: 'der' }),
      { name: 'ECDSA', namedCurve: 'P-256' },
      true,
      ['sign'],
    ),
  };
  const ca = await createCa('es256 test CA');
  const issued = await issueCertificate({
    subject: 'es256-client',
    issuer: ca,
    kind: 'client',
    keys,
  });
  return { certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem };
}

let signer: LocalSigner;
let jwk: object;

/**
 * ES256, for OIDC issuers that take it: oidc-provider (certified, replay detection on) verifies
 * the signer's ECDSA assertions with the client's registered EC key — a new assertion per token
 * request, since such an issuer refuses a `jti` twice.
 */
describe('signer source with ES256 against oidc-provider', () => {
  const [oidc] = useFixtures(async function startOidcWithEcClient() {
    const cert = await ecCertificate();
    signer = localSigner(cert.certificatePem, cert.privateKeyPem);
    const { X509Certificate } = await import('node:crypto');
    jwk = await exportJWK(new X509Certificate(cert.certificatePem).publicKey);
    return startOidcAuthority([
      {
        client_id: 'ec-client',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...jwk, use: 'sig', alg: 'ES256' }] },
      },
    ]);
  });
  let app: TokenApp;
  afterAll(() => app?.close());

  it('gets tokens with ES256 assertions, a fresh one per request', async () => {
    app = await startTokenApp({
      credentials: {
        ec: {
          authorityHost: oidc.authorityHost,
          tenantId: oidc.tenant,
          protocol: 'oidc',
          ca: oidc.caPem,
          clientId: 'ec-client',
          sources: [{ type: 'signer', signer }],
        },
      },
    });
    await app.tokens.getAccessToken(oidc.scope);
    await app.tokens.getAccessToken(oidc.scope, { forceRefresh: true });
    await app.tokens.getAccessToken(oidc.scope, { forceRefresh: true });
    expect(oidc.requests).toEqual([
      { clientId: 'ec-client', ok: true },
      { clientId: 'ec-client', ok: true },
      { clientId: 'ec-client', ok: true },
    ]);
    expect(signer.algorithms).toEqual(['ES256', 'ES256', 'ES256']);
    expect(signer.signatures).toBe(3);
  });

  it('refuses ES256 with Entra ID at start-up, naming the field and the fix', async () => {
    await expect(
      startTokenApp({
        credentials: {
          entra: {
            tenantId: '11111111-1111-1111-1111-111111111111',
            clientId: 'c',
            sources: [{ type: 'signer', signer, algorithm: 'ES256' }],
          },
        },
      }),
    ).rejects.toMatchObject({
      code: 'options_invalid',
      problems: [
        expect.stringMatching(
          /^credentials\.entra\.sources\[0\]\.algorithm: ES256 is not accepted by Entra ID/,
        ),
      ],
    });
  });

  it('refuses an EC key with Entra ID at start-up when no algorithm is set, not per request', async () => {
    signer.algorithms = [];
    await expect(
      startTokenApp({
        credentials: {
          entra: {
            tenantId: '11111111-1111-1111-1111-111111111111',
            clientId: 'c',
            sources: [{ type: 'signer', signer }],
          },
        },
      }),
    ).rejects.toMatchObject({
      code: 'options_invalid',
      problems: [
        expect.stringMatching(
          /^credentials\.entra\.sources\[0\]\.certificate: the certificate's key is ec-p256; Entra ID certificate credentials need an RSA key/,
        ),
      ],
    });
    expect(signer.algorithms).toEqual([]);
  });
});

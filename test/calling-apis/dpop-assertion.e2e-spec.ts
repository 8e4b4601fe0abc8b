import { exportJWK, importX509 } from 'jose';
import { createCa } from '@app/dev-authority/pki';
import { startOidcAuthority, type OidcAuthority } from '../support/oidc-authority';
import { startTokenApp, type TokenApp } from '../support/token-app';
import { releaseAll } from '../support/fixtures';

/**
 * DPoP with a certificate source (`private_key_jwt`) at an authorization server that requires its
 * nonce and takes each client assertion's `jti` once (oidc-provider): the request the server
 * refuses for want of its nonce is made again with a new assertion, not re-sent as it was.
 */
describe('DPoP nonce retry with a client assertion', () => {
  let oidc: OidcAuthority;
  let app: TokenApp;

  beforeAll(async () => {
    const certificate = await createCa('dpop assertion client');
    const jwk = await exportJWK(await importX509(certificate.certificatePem, 'PS256'));
    oidc = await startOidcAuthority(
      [
        {
          client_id: 'jwt-client',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...jwk, use: 'sig', alg: 'PS256' }] },
          dpop_bound_access_tokens: true,
        },
      ],
      { dpop: { nonce: true } },
    );
    app = await startTokenApp({
      credentials: {
        jwt: {
          authorityHost: oidc.authorityHost,
          tenantId: oidc.tenant,
          protocol: 'oidc',
          ca: oidc.caPem,
          clientId: 'jwt-client',
          dpop: true,
          sources: [
            {
              type: 'certificate',
              certificate: certificate.certificatePem,
              privateKey: certificate.privateKeyPem,
            },
          ],
        },
      },
    });
  });
  afterAll(() => releaseAll(app, oidc));

  it('gets a DPoP token on the first call: refused for the nonce once, then granted with a new assertion', async () => {
    const token = await app.tokens.getAccessToken(oidc.scope);

    expect(token.tokenType).toBe('DPoP');
    // Before the fix the copy of the form was refused as a replayed assertion (invalid_client).
    expect(oidc.requests.map((r) => (r.ok ? 'granted' : r.error))).toEqual([
      expect.stringMatching(/nonce/i),
      'granted',
    ]);
  });

  it('a refresh with the nonce known costs one request', async () => {
    const before = oidc.requests.length;

    await app.tokens.getAccessToken(oidc.scope, { forceRefresh: true });

    expect(oidc.requests.slice(before).map((r) => r.ok)).toEqual([true]);
  });
});

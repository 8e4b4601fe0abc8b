import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { startDevAuthority, type App } from '@app/dev-authority';
import { createCa, issueCertificateForKey } from '@app/dev-authority/pki';
import { useFixtures } from '../support/fixtures';
import { startSoftHsm } from '../support/softhsm';
import { callApi, localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import type { Pkcs11SourceOptions } from '@app/client-credentials';

/**
 * A key generated inside a SoftHSM2 token (sensitive, not extractable) signs the app's client
 * assertions through the `pkcs11` source: the local authority issues a token its demo API
 * accepts; the token's sessions lost, the key removed, a wrong PIN are each a typed failure or a
 * recovery, and the chain moves on.
 */
describe('pkcs11 source (SoftHSM2)', () => {
  const [authority, hsm] = useFixtures(startDevAuthority, () => startSoftHsm());
  let app: TokenApp | undefined;
  let registered: App;
  let certificatePath: string;
  let source: Pkcs11SourceOptions;

  beforeAll(async () => {
    registered = authority.createTenant().createApp();
    const publicKeyPem = await hsm.generateKey({ label: 'daemon-key', id: '01' });
    const cert = await registered.addCertificateForKey(publicKeyPem, { subject: 'CN=daemon' });
    certificatePath = join(hsm.dir, 'daemon.pem');
    await writeFile(certificatePath, cert.certificatePem);
    source = {
      type: 'pkcs11',
      modulePath: hsm.modulePath,
      tokenLabel: hsm.tokenLabel,
      keyLabel: 'daemon-key',
      pinFile: hsm.pinFile,
      certificatePath,
    };
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    authority.resetLog();
  });
  const start = (sources: Parameters<typeof localCredential>[3]) =>
    startTokenApp({
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, sources),
      },
    });

  it('signs with a key that cannot leave the token; the demo API accepts the token', async () => {
    expect(await hsm.keyAttributes('daemon-key')).toEqual({ extractable: false, sensitive: true });
    app = await start([source]);
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    expect(JSON.stringify(app.tokens)).not.toContain(hsm.pin);
    expect(app.tokens.toJSON()).toMatchObject({
      credentials: {
        app: {
          sources: [
            { type: 'pkcs11', id: 'pkcs11#0', tokenLabel: hsm.tokenLabel, keyLabel: 'daemon-key' },
          ],
        },
      },
    });
  });

  it('reads the certificate from the token, signs concurrent tenants over pooled sessions', async () => {
    const der = new X509Certificate(await readFile(certificatePath, 'utf8')).raw;
    await hsm.importCertificate({ label: 'daemon-key', id: '01', der });
    const tenants = Array.from({ length: 20 }, () => authority.createTenant().tenantId);
    for (const t of tenants) {
      authority.createTenant({ tenantId: t }).createApp({ clientId: registered.clientId });
    }
    const { certificatePath: _unused, ...fromToken } = source;
    void _unused;
    app = await start([fromToken]);
    await Promise.all(
      tenants.map((tenantId) => app!.tokens.getAccessToken(authority.apiScope, { tenantId })),
    );
    expect(authority.countTokenRequests({ outcome: 'ok' })).toBe(20);
  });

  it('a certificate renewed on the token for the same key: read again once the authority refuses the old one, and the request asked again at once', async () => {
    const renewed = authority.createTenant().createApp();
    const other = authority.createTenant();
    other.createApp({ clientId: renewed.clientId });
    const publicKeyPem = await hsm.generateKey({ label: 'renewed-key', id: '03' });
    const put = async () => {
      const cert = await renewed.addCertificateForKey(publicKeyPem, { subject: 'CN=daemon' });
      await hsm.importCertificate({
        label: 'renewed-key',
        id: '03',
        der: new X509Certificate(cert.certificatePem).raw,
      });
      return Buffer.from(cert.thumbprintSha256, 'hex').toString('base64url');
    };
    const first = await put();
    const { certificatePath: _unused, ...fromToken } = source;
    void _unused;
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, renewed.tenantId, renewed.clientId, [
          { ...fromToken, keyLabel: 'renewed-key' },
        ]),
      },
    });
    const thumbprint = () =>
      (
        app!.tokens.toJSON() as {
          credentials: { app: { sources: { thumbprintSha256?: string }[] } };
        }
      ).credentials.app.sources[0].thumbprintSha256;
    await app.tokens.getAccessToken(authority.apiScope);
    expect(thumbprint()).toBe(first);

    // Renewed: a new certificate for the key, registered in place of the old one, and the token's
    // certificate object replaced.
    renewed.removeCredentials();
    await hsm.destroyCertificate('renewed-key');
    const second = await put();
    // Another tenant's assertion, signed with the certificate read before: refused, the token's
    // certificate read again, and the request made again at once with it — the caller gets a token.
    await app.tokens.getAccessToken(authority.apiScope, { tenantId: other.tenantId });
    expect(thumbprint()).toBe(second);
    // The home tenant's assertion, reused until now, names the renewed certificate too.
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(authority.countTokenRequests({ outcome: 'ok' })).toBe(3);
    expect(authority.countTokenRequests()).toBe(4);
  });

  it('several certificates with the key id: the renewed one of the key, not the refused one nor another key’s', async () => {
    const renewed = authority.createTenant().createApp();
    const other = authority.createTenant();
    other.createApp({ clientId: renewed.clientId });
    const publicKeyPem = await hsm.generateKey({ label: 'several-key', id: '08' });
    const put = async (der: Buffer) =>
      hsm.importCertificate({ label: 'several-key', id: '08', der });
    const thumbprintOf = (pem: string) =>
      Buffer.from(new X509Certificate(pem).fingerprint256.replace(/:/g, ''), 'hex').toString(
        'base64url',
      );
    const first = await renewed.addCertificateForKey(publicKeyPem, { subject: 'CN=daemon' });
    await put(Buffer.from(new X509Certificate(first.certificatePem).raw));
    const { certificatePath: _unused, ...fromToken } = source;
    void _unused;
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, renewed.tenantId, renewed.clientId, [
          { ...fromToken, keyLabel: 'several-key' },
        ]),
      },
    });
    const thumbprint = () =>
      (
        app!.tokens.toJSON() as {
          credentials: { app: { sources: { thumbprintSha256?: string }[] } };
        }
      ).credentials.app.sources[0].thumbprintSha256;
    await app.tokens.getAccessToken(authority.apiScope);
    expect(thumbprint()).toBe(thumbprintOf(first.certificatePem));

    // Beside the old one (still on the token, no longer registered): a certificate of another key
    // under the same id, issued last, and the renewal of the key's.
    const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const ca = await createCa('another CA');
    const foreignPem = await issueCertificateForKey(
      {
        subject: 'CN=another',
        issuer: ca,
        kind: 'client',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
      },
      await webcrypto.subtle.importKey(
        'spki',
        foreign.export({ type: 'spki', format: 'der' }),
        { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        true,
        ['verify'],
      ),
    );
    await put(Buffer.from(new X509Certificate(foreignPem).raw));
    renewed.removeCredentials();
    const second = await renewed.addCertificateForKey(publicKeyPem, { subject: 'CN=daemon' });
    await put(Buffer.from(new X509Certificate(second.certificatePem).raw));

    // The old one refused once; the token read again, the request made again with the renewal.
    await app.tokens.getAccessToken(authority.apiScope, { tenantId: other.tenantId });
    expect(thumbprint()).toBe(thumbprintOf(second.certificatePem));
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(thumbprint()).toBe(thumbprintOf(second.certificatePem));
    expect(authority.countTokenRequests({ outcome: 'ok' })).toBe(3);
    expect(authority.countTokenRequests()).toBe(4);
  });

  it('logs in again after the token lost its sessions (removed and inserted again)', async () => {
    const other = authority.createTenant();
    other.createApp({ clientId: registered.clientId });
    app = await start([source]);
    await app.tokens.getAccessToken(authority.apiScope);
    await hsm.closeAllSessions();
    // Another tenant: a new assertion, so a signature over the sessions closed under it.
    await app.tokens.getAccessToken(authority.apiScope, { tenantId: other.tenantId });
    expect(authority.countTokenRequests({ outcome: 'ok' })).toBe(2);
    expect(new Set(authority.log.map((e) => e.jti).filter(Boolean)).size).toBe(2);
  });

  it('a wrong PIN: signer_failed naming the PIN file, never the PIN; the chain moves on', async () => {
    const wrong = join(hsm.dir, 'wrong-pin');
    await writeFile(wrong, '000000\n');
    const secret = registered.addSecret();
    app = await start([
      { ...source, pinFile: wrong },
      { type: 'secret', secret },
    ]);
    await app.tokens.getAccessToken(authority.apiScope);
    const reason = app.tokens.getStats().skippedSources?.['pkcs11#0']?.reason ?? '';
    expect(reason).toContain('CKR_PIN_INCORRECT');
    expect(reason).toContain(wrong);
    expect(reason).not.toContain('000000');
    expect(JSON.stringify(app.logger.lines)).not.toContain('000000');
  });

  it('the key removed from the token: signer_failed with the fix, the next source serves', async () => {
    await hsm.generateKey({ label: 'doomed', id: '02' });
    const secret = registered.addSecret();
    app = await start([
      { ...source, keyLabel: 'doomed' },
      { type: 'secret', secret },
    ]);
    await hsm.destroyKey('doomed');
    await app.tokens.getAccessToken(authority.apiScope);
    expect(app.tokens.getStats().skippedSources?.['pkcs11#0']?.reason).toMatch(
      /no private key labelled 'doomed' on the token/,
    );
  });
});

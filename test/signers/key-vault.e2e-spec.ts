import { writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startDevAuthority,
  type App,
  type KeyVault,
  type ManagedIdentity,
  type Tenant,
  type VaultKeyVersion,
} from '@app/dev-authority';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import type { KeyVaultSourceOptions } from '@app/client-credentials';
import { useFixtures } from '../support/fixtures';
import { reachableText } from '../support/leak-scan';
import {
  callApi,
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';

/**
 * An Azure Key Vault key signs the app's assertions through the unmodified @azure/keyvault-keys
 * client, against the vault the local authority emulates (challenge, access policy, versions):
 * the vault takes tokens of the module's managed identity credential, which has keys/sign only.
 */
describe('key-vault source (emulated vault, unmodified SDK)', () => {
  const [authority] = useFixtures(startDevAuthority);
  const dir = mkdtempSync(join(tmpdir(), 'key-vault-'));
  let app: TokenApp | undefined;
  let registered: App;
  let tenant: Tenant;
  let vault: KeyVault;
  let identity: ManagedIdentity;
  let first: VaultKeyVersion;
  let certificatePath: string;

  beforeAll(async () => {
    tenant = authority.createTenant();
    registered = tenant.createApp();
    vault = authority.createKeyVault({ tenantId: tenant.tenantId });
    identity = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'user' });
    vault.grant(identity.objectId, ['sign']);
    first = await vault.createKey('daemon');
    certificatePath = join(dir, 'daemon.pem');
    await writeFile(
      certificatePath,
      (await registered.addCertificateForKey(first.publicKeyPem)).certificatePem,
    );
    // msal's managed identity picks the App Service endpoint from these; never IMDS.
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    authority.faults.clear();
    authority.resetLog();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const keyVault = (over: Partial<KeyVaultSourceOptions> = {}): KeyVaultSourceOptions => ({
    type: 'key-vault',
    keyId: first.keyId,
    credential: 'vault',
    certificatePath,
    ca: authority.caPem,
    // The vault is at 127.0.0.1, not under vault.azure.net.
    disableChallengeResourceVerification: true,
    ...over,
  });
  const start = (sources: Parameters<typeof localCredential>[3], timeouts = {}, retry = {}) =>
    startTokenApp({
      retry,
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, sources),
        vault: localManagedIdentity(authority, { clientId: identity.clientId }),
      },
      defaultCredential: 'app',
      timeouts,
    });
  const vaultCalls = () => authority.log.filter((e) => e.target === 'vault');
  const VAULT_SCOPE = 'https://vault.azure.net/.default';

  it('signs through the vault; the API accepts the token; one signature and one vault token serve many requests', async () => {
    app = await start([keyVault()]);
    const before = vault.signatures;
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(vault.signatures - before).toBe(1);
    // The SDK: GET key after the challenge (no keys/get: 403, it signs remotely), then sign.
    expect(vaultCalls().map((e) => `${e.method} ${e.status}`)).toEqual([
      'GET 401',
      'GET 403',
      'POST 200',
    ]);
    expect(authority.countTokenRequests({ target: 'managed-identity' })).toBe(1);
    expect(authority.countTokenRequests({ target: 'token', outcome: 'ok' })).toBe(2);
  });

  it('a key rotated without its certificate: signer_failed before any token request', async () => {
    const rotated = await vault.createKey('rotating');
    const path = join(dir, 'rotating.pem');
    await writeFile(
      path,
      (await registered.addCertificateForKey(rotated.publicKeyPem)).certificatePem,
    );
    vault.grant(identity.objectId, ['sign']);
    app = await start([keyVault({ keyId: rotated.keyId, certificatePath: path })]);
    await app.tokens.getAccessToken(authority.apiScope);
    const next = await vault.createKey('rotating');
    const other = authority.createTenant();
    other.createApp({ clientId: registered.clientId });
    // Another tenant needs a new assertion: the vault signs with the new version, the file still
    // holds the old certificate.
    await expect(
      app.tokens.getAccessToken(authority.apiScope, { tenantId: other.tenantId }),
    ).rejects.toMatchObject({
      code: 'signer_failed',
      message: expect.stringContaining("not the certificate's"),
    });
    expect(authority.countTokenRequests({ tenantId: other.tenantId })).toBe(0);
    // The new certificate deployed (registered, and the file replaced): used at the next assertion.
    await writeFile(
      path,
      (await registered.addCertificateForKey(next.publicKeyPem)).certificatePem,
    );
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the failure's cool-down
    const token = await app.tokens.getAccessToken(authority.apiScope, { tenantId: other.tenantId });
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
  });

  it('a pinned version keeps signing with that version after a rotation', async () => {
    const pinned = await vault.createKey('pinned');
    const path = join(dir, 'pinned.pem');
    await writeFile(
      path,
      (await registered.addCertificateForKey(pinned.publicKeyPem)).certificatePem,
    );
    await vault.createKey('pinned');
    app = await start([keyVault({ keyId: pinned.id, certificatePath: path })]);
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
  });

  it('a disabled key: 403 KeyDisabled is signer_failed saying so; the chain moves on', async () => {
    const disabled = await vault.createKey('disabled');
    const path = join(dir, 'disabled.pem');
    await writeFile(
      path,
      (await registered.addCertificateForKey(disabled.publicKeyPem)).certificatePem,
    );
    vault.setKeyEnabled('disabled', false);
    const secret = registered.addSecret();
    app = await start([
      keyVault({ keyId: disabled.keyId, certificatePath: path }),
      { type: 'secret', secret },
    ]);
    await app.tokens.getAccessToken(authority.apiScope);
    expect(app.tokens.getStats('app').skippedSources?.['key-vault#0']?.reason).toMatch(
      /403 KeyDisabled: Operation sign is not allowed on a disabled key\.\) — enable the key/,
    );
  });

  it('no keys/sign permission: signer_failed naming the permission to grant', async () => {
    const other = authority.createManagedIdentity({ tenantId: registered.tenantId, kind: 'user' });
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, [keyVault()]),
        vault: localManagedIdentity(authority, { clientId: other.clientId }),
      },
      defaultCredential: 'app',
    });
    const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'signer_failed',
      transient: false,
      message: expect.stringMatching(
        /AccessDenied.*grant credential 'vault' the keys\/sign permission/,
      ),
    });
    // The SDK's error, whose request carried the vault token, is not reachable from it: its
    // status and Key Vault's error are.
    const vaultToken = await app.tokens.getAccessToken(VAULT_SCOPE, { credential: 'vault' });
    const reachable = reachableText(error);
    expect(reachable).toContain('AccessDenied');
    expect(reachable.includes(vaultToken.token)).toBe(false);
  });

  it("a vault credential that names its tenant by a verified domain signs with a vault of its tenant (the challenge names the tenant's id), never another tenant's", async () => {
    const domain = `contoso-${registered.tenantId.slice(0, 8)}.onmicrosoft.com`;
    tenant.addDomain(domain);
    const vaultApp = tenant.createApp();
    vault.grant(vaultApp.objectId, ['sign']);
    const vaultOf = (tenantId: string) =>
      localCredential(authority, tenantId, vaultApp.clientId, [
        { type: 'secret', secret: vaultApp.addSecret() },
      ]);
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, [keyVault()]),
        vault: vaultOf(domain),
      },
      defaultCredential: 'app',
    });
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    // One vault token, asked in the credential's own tenant by its domain.
    expect(authority.countTokenRequests({ clientId: vaultApp.clientId, outcome: 'ok' })).toBe(1);
    await app.close();

    // A vault of another tenant (its challenge names that tenant) stays refused.
    const elsewhere = authority.createTenant();
    elsewhere.addDomain(`fabrikam-${elsewhere.tenantId.slice(0, 8)}.onmicrosoft.com`);
    const stranger = elsewhere.createApp({ clientId: vaultApp.clientId });
    vault.grant(stranger.objectId, ['sign']);
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, [keyVault()]),
        vault: vaultOf(`fabrikam-${elsewhere.tenantId.slice(0, 8)}.onmicrosoft.com`),
      },
      defaultCredential: 'app',
    });
    await expect(app.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'signer_failed',
      message: expect.stringContaining(
        `the vault's challenge names tenant '${registered.tenantId}', not tenant 'fabrikam-`,
      ),
    });
    expect(
      authority.countTokenRequests({
        tenantId: registered.tenantId,
        clientId: vaultApp.clientId,
        outcome: 'ok',
      }),
    ).toBe(1);
  });

  it('a vault that does not answer: signer_failed within timeouts.requestMs, transient', async () => {
    authority.faults.add({ target: 'vault', kind: 'latency', latencyMs: 5000 });
    app = await start([keyVault()], { requestMs: 500, acquireMs: 4000 });
    const started = Date.now();
    const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'signer_failed', transient: true });
    expect(Date.now() - started).toBeLessThan(4500);
    expect(authority.countTokenRequests({ target: 'token' })).toBe(0);
  });

  it("a vault token revoked (CAE): the vault's claims challenge gets a token carrying the claims, the signature goes through; the revoked token is served to no one", async () => {
    // An app as the vault's identity: its tokens declare cp1, so the vault sends claims challenges.
    const vaultApp = tenant.createApp();
    vault.grant(vaultApp.objectId, ['sign']);
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, [keyVault()]),
        vault: localCredential(authority, tenant.tenantId, vaultApp.clientId, [
          { type: 'secret', secret: vaultApp.addSecret() },
        ]),
      },
      defaultCredential: 'app',
    });
    await app.tokens.getAccessToken(authority.apiScope);
    const revoked = await app.tokens.getAccessToken(VAULT_SCOPE, { credential: 'vault' });
    authority.revokeTokens(tenant.tenantId, vaultApp.clientId);
    authority.resetLog();
    // Another tenant needs a new assertion: the vault's client presents the revoked token.
    const other = authority.createTenant();
    other.createApp({ clientId: registered.clientId });
    const token = await app.tokens.getAccessToken(authority.apiScope, { tenantId: other.tenantId });
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    expect(vaultCalls().map((e) => `${e.method} ${e.status}`)).toEqual(['POST 401', 'POST 200']);
    expect(authority.countTokenRequests({ clientId: vaultApp.clientId })).toBe(1);
    const plain = await app.tokens.getAccessToken(VAULT_SCOPE, { credential: 'vault' });
    expect(plain.token).not.toBe(revoked.token);
  });

  it('a vault throttling with a Retry-After past retry.maxRetryAfterMs: one vault request, the error carries it, the next caller fails fast — for any scope', async () => {
    authority.faults.add({ target: 'vault', kind: 'throttle', retryAfterSeconds: 3600 });
    app = await start([keyVault()]);
    const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'signer_failed',
      transient: true,
      retryAfterMs: 3_600_000,
      message: expect.stringContaining('(429, Retry-After 3600 s)'),
    });
    await expect(app.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'signer_failed',
    });
    // Another token (its own request key, its own cool-down) is signed by the same vault: it
    // fails at once too, with what is left of the wait (capped by retry.maxRetryAfterMs).
    const other = (await app.tokens
      .getAccessToken('api://other-api/.default')
      .catch((e: unknown) => e)) as { retryAfterMs: number };
    expect(other).toMatchObject({
      code: 'signer_failed',
      transient: true,
      message: expect.stringContaining('(429, Retry-After 3600 s)'),
    });
    expect(other.retryAfterMs).toBeGreaterThan(0);
    expect(other.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(vaultCalls()).toHaveLength(1);
    expect(authority.countTokenRequests({ target: 'token' })).toBe(0);
  });

  it('a vault answering 503: transient signer_failed, retried, then served when it recovers', async () => {
    authority.faults.add({ target: 'vault', kind: 'status', status: 503, times: 1 });
    app = await start([keyVault()]);
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(token.token).toBeTruthy();
  });

  /**
   * A host at `keyId` that is not a vault: its challenge names `resource` (of the vault's tenant),
   * and it answers a request that carries a token with an empty 500. It records those tokens.
   */
  const startKeyIdHost = async (resource: string, answer: 'empty 500' | 'claims' = 'empty 500') => {
    const ca = await createCa('keyId host test CA');
    const tls = await issueCertificate({ subject: 'localhost', issuer: ca, kind: 'server' });
    const received: string[] = [];
    const server = createServer(
      { key: tls.privateKeyPem, cert: tls.certificatePem },
      (req, res) => {
        if (req.headers.authorization !== undefined) {
          received.push(req.headers.authorization);
          if (answer === 'empty 500') return void res.writeHead(500).end();
          // Continuous access evaluation refusing every token, its claims' too (a location policy).
          const claims = { access_token: { nbf: { essential: true, value: '1700000000' } } };
          res
            .writeHead(401, {
              'content-type': 'application/json',
              'www-authenticate': `Bearer realm="", error="insufficient_claims", claims="${Buffer.from(JSON.stringify(claims)).toString('base64')}"`,
            })
            .end(
              JSON.stringify({ error: { code: 'Unauthorized', message: 'Token was revoked.' } }),
            );
          return;
        }
        res
          .writeHead(401, {
            'www-authenticate': `Bearer authorization="${authority.url}/${registered.tenantId}", resource="${resource}"`,
          })
          .end();
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      received,
      source: keyVault({ keyId: `https://127.0.0.1:${port}/keys/daemon`, ca: ca.certificatePem }),
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  };

  it("a keyId host whose challenge names another API's resource gets no token: signer_failed naming it", async () => {
    const apiResource = authority.apiScope.replace(/\/\.default$/, '');
    const host = await startKeyIdHost(apiResource);
    try {
      app = await start([host.source]);
      const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'signer_failed', transient: false });
      expect((error as Error).message).toContain(`'${apiResource}/.default'`);
      expect(host.received).toHaveLength(0);
      expect(authority.countTokenRequests()).toBe(0);
    } finally {
      await host.close();
    }
  });

  it('a vault refusing even the token carrying its claims: signer_failed saying so (CAE), not the tenant', async () => {
    const host = await startKeyIdHost('https://vault.azure.net', 'claims');
    try {
      app = await start([host.source], {}, { maxAttempts: 1 });
      const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'signer_failed',
        transient: false,
        message: expect.stringContaining('(401 insufficient_claims: Token was revoked.)'),
      });
      expect((error as Error).message).not.toContain("vault's tenant");
      // The token given first, then one carrying the claims.
      expect(new Set(host.received).size).toBe(2);
    } finally {
      await host.close();
    }
  });

  it('a vault answering an empty 500: transient signer_failed with the status', async () => {
    const host = await startKeyIdHost('https://vault.azure.net');
    try {
      app = await start([host.source], {}, { maxAttempts: 1 });
      const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'signer_failed', transient: true });
      expect((error as Error).message).toMatch(/could not sign with key '[^']+' \(500\)/);
      expect(host.received).toHaveLength(1);
      expect(authority.countTokenRequests({ target: 'token' })).toBe(0);
    } finally {
      await host.close();
    }
  });
});

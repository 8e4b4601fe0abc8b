import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import type { CertificateSigner } from '@app/client-credentials';
import { startDevAuthority, type App } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { localSigner, signWith, type LocalSigner } from '../support/local-signer';
import { callApi, localCredential, startTokenApp, type TokenApp } from '../support/token-app';

/**
 * A certificate credential whose key is held by a signer of the app: the library builds the
 * assertion (the one builder of the PEM key's too) and asks only for its signature, checks it
 * against the certificate, bounds the call, and with Entra ID reuses an assertion per tenant.
 */
describe('signer source (a key held elsewhere)', () => {
  const [authority] = useFixtures(startDevAuthority);
  let app: TokenApp | undefined;
  let registered: App;
  let signer: LocalSigner;
  let secret: string;
  let privateKeyPem: string;

  beforeAll(async () => {
    registered = authority.createTenant().createApp();
    const cert = await registered.addCertificate();
    signer = localSigner(cert.certificatePem, cert.privateKeyPem);
    privateKeyPem = cert.privateKeyPem;
    secret = registered.addSecret();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    signer.behave();
    signer.signatures = 0;
    signer.algorithms = [];
    authority.faults.clear();
    authority.resetLog();
  });

  const start = (sources: Parameters<typeof localCredential>[3], timeouts = {}) =>
    startTokenApp({
      credentials: {
        app: localCredential(authority, registered.tenantId, registered.clientId, sources),
      },
      timeouts,
    });
  const assertions = () =>
    authority.log.filter((e) => e.target === 'token' && e.credentialKind === 'certificate');

  it('gets a token the API accepts, PS256 with x5t#S256, one signature reused per tenant', async () => {
    app = await start([{ type: 'signer', signer }]);
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    // Three token requests, one signature: Entra takes an assertion until its exp.
    expect(assertions().map((e) => e.status)).toEqual([200, 200, 200]);
    expect(new Set(assertions().map((e) => e.jti)).size).toBe(1);
    expect(signer.signatures).toBe(1);
    expect(signer.algorithms).toEqual(['PS256']);
  });

  it('signs RS256 when asked, naming the certificate by x5t and x5t#S256', async () => {
    let header: Record<string, unknown> | undefined;
    const seen = localSigner(await signer.getCertificate(), '');
    seen.behave(async (data, algorithm) => {
      header = decodeProtectedHeader(Buffer.from(data).toString().split('.')[0] + '..');
      return signer.sign(data, algorithm, { signal: new AbortController().signal });
    });
    app = await start([{ type: 'signer', signer: seen, algorithm: 'RS256' }]);
    await app.tokens.getAccessToken(authority.apiScope);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(Object.keys(header!).sort()).toEqual(['alg', 'typ', 'x5t', 'x5t#S256']);
    expect(assertions().map((e) => e.status)).toEqual([200]);
  });

  it('refuses a signature of another key before any token request: signer_failed, typed', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    signer.behave(async (data, algorithm) => signWith(other, data, algorithm));
    app = await start([{ type: 'signer', signer }]);
    await expect(app.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'signer_failed',
      hint: expect.stringContaining('new key version'),
      message: expect.stringContaining("not the certificate's"),
    });
    expect(authority.countTokenRequests()).toBe(0);
  });

  it('a signer that returns the base64 text of its signature: signer_failed saying so, not a rotated key', async () => {
    const own = createPrivateKey(privateKeyPem);
    signer.behave(async (data, algorithm) =>
      Buffer.from(signWith(own, data, algorithm).toString('base64')),
    );
    app = await start([{ type: 'signer', signer }]);
    const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: Error) => e);
    expect(error).toMatchObject({
      code: 'signer_failed',
      message: expect.stringContaining(
        "The signer of source 'signer#0' returned 344 bytes of text (base64 or hex?), not a signature: a PS256 signature with the certificate's 2048-bit key is 256 bytes",
      ),
    });
    expect((error as Error).message).not.toContain("not the certificate's");
    expect(authority.countTokenRequests()).toBe(0);
  });

  it('a signer that never answers fails in timeouts.requestMs and the chain moves on', async () => {
    signer.behave(() => new Promise<Uint8Array>(() => undefined));
    app = await start(
      [
        { type: 'signer', signer },
        { type: 'secret', secret },
      ],
      { requestMs: 300, acquireMs: 5000 },
    );
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect(token.token).toBeTruthy();
    expect(app.tokens.getStats().skippedSources?.['signer#0']?.reason).toMatch(
      /did not answer sign within 300 ms/,
    );
    expect(authority.countTokenRequests()).toBe(1);
  });

  it('a getCertificate that never settles: start-up fails naming sources[0].signer and the fix', async () => {
    const error = await start(
      [
        {
          type: 'signer',
          signer: { ...signer, getCertificate: () => new Promise(() => undefined) },
        },
      ],
      { requestMs: 200 },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'options_invalid',
      problems: [
        expect.stringMatching(
          /^credentials\.app\.sources\[0\]\.signer: did not answer getCertificate within 200 ms \(timeouts\.requestMs\) — /,
        ),
      ],
    });
    expect(authority.countTokenRequests()).toBe(0);
  });

  it('a lone signer that never answers: the caller fails by its deadline, typed and transient', async () => {
    signer.behave(() => new Promise<Uint8Array>(() => undefined));
    app = await start([{ type: 'signer', signer }], { requestMs: 200, acquireMs: 1500 });
    const started = Date.now();
    const error = await app.tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toMatchObject({ code: 'signer_failed', transient: true });
    expect(authority.countTokenRequests()).toBe(0);
  });

  it('a refusing signer: signer_failed with its reason, the next source serves, nothing logged of it', async () => {
    signer.behave(async () => {
      throw new Error('PIN locked');
    });
    app = await start([
      { type: 'signer', signer },
      { type: 'secret', secret },
    ]);
    await app.tokens.getAccessToken(authority.apiScope);
    expect(app.tokens.getStats().skippedSources?.['signer#0']?.reason).toMatch(
      /the signer failed \(sign\): PIN locked/,
    );
  });

  it('a rejected assertion is not reused: asked again at once with a fresh one, then each request signs again', async () => {
    const own = authority.createTenant().createApp();
    const cert = await own.addCertificate();
    const counted = localSigner(cert.certificatePem, cert.privateKeyPem);
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, own.tenantId, own.clientId, [
          { type: 'signer', signer: counted },
        ]),
      },
      retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 10 },
    });
    await app.tokens.getAccessToken(authority.apiScope);
    own.removeCredentials();
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // past the failure's cool-down
      await expect(
        app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true }),
      ).rejects.toMatchObject({ code: 'credential_rejected', aadsts: 700027 });
    }
    // The first assertion served the token and its first refusal, which was asked again at once
    // with a fresh one (the refusal of a reused one may be of its time); a fresh one refused is not.
    expect(counted.signatures).toBe(3);
    const sent = authority.log.filter((e) => e.target === 'token' && e.clientId === own.clientId);
    expect(sent.map((e) => e.status)).toEqual([200, 401, 401, 401]);
  });

  it('a certificate rotated under a reused assertion: the next request names the new one, none refused', async () => {
    const own = authority.createTenant().createApp();
    let current = await own.addCertificate();
    let reads = 0;
    const signer: CertificateSigner = {
      getCertificate: () => (reads++, current.certificatePem),
      sign: (data, algorithm) => signWith(createPrivateKey(current.privateKeyPem), data, algorithm),
    };
    app = await startTokenApp({
      credentials: {
        app: localCredential(authority, own.tenantId, own.clientId, [{ type: 'signer', signer }]),
      },
    });
    await app.tokens.getAccessToken(authority.apiScope);
    // Rotated: the signer moved to a new certificate, the old one unregistered.
    own.removeCredentials();
    current = await own.addCertificate();
    const before = reads;
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(reads - before).toBe(1);
    const sent = authority.log.filter((e) => e.target === 'token' && e.clientId === own.clientId);
    expect(sent.map((e) => e.status)).toEqual([200, 200]);
  });

  it('a bundle CA first: the key’s certificate is the leaf, x5c sent leaf first; two unrelated ones: "out of order"', async () => {
    // An SNI certificate (subject name + issuer): the authority checks x5c leaf first to its root.
    const sniApp = authority.createTenant().createApp();
    const sni = await sniApp.addSniCertificate();
    const caFirst = `${sni.chainPem.replace(sni.certificatePem, '')}\n${sni.certificatePem}`;
    const stranger = await authority.createTenant().createApp().addCertificate();
    const credential = (sources: Parameters<typeof localCredential>[3]) =>
      localCredential(authority, sniApp.tenantId, sniApp.clientId, sources);
    app = await startTokenApp({
      credentials: {
        signed: credential([
          { type: 'signer', signer: localSigner(caFirst, sni.privateKeyPem), sendX5c: true },
        ]),
        pem: credential([
          // The leaf given twice (the chain file repeats it): one certificate.
          {
            type: 'certificate',
            certificate: `${caFirst}\n${sni.chainPem}`,
            privateKey: sni.privateKeyPem,
            sendX5c: true,
          },
        ]),
        unordered: credential([
          {
            type: 'signer',
            signer: localSigner(`${stranger.certificatePem}\n${caFirst}`, sni.privateKeyPem),
            sendX5c: true,
          },
        ]),
      },
    });
    await app.tokens.getAccessToken(authority.apiScope, { credential: 'signed' });
    await app.tokens.getAccessToken(authority.apiScope, { credential: 'pem' });
    expect(authority.countTokenRequests({ outcome: 'ok' })).toBe(2);
    // Two leaves (one not issued by the bundle's CA): which is first cannot be told, and is wrong.
    await expect(
      app.tokens.getAccessToken(authority.apiScope, { credential: 'unordered' }),
    ).rejects.toMatchObject({
      code: 'signer_failed',
      message: expect.stringContaining('the chain is out of order (leaf first)'),
    });
    expect(authority.countTokenRequests()).toBe(2);
  });

  it('1,000 cold tenants through one signer: one signature per token request, none twice', async () => {
    const tenants = Array.from({ length: 1000 }, () => authority.createTenant().tenantId);
    for (const t of tenants) {
      authority.createTenant({ tenantId: t }).createApp({ clientId: registered.clientId });
    }
    app = await start([{ type: 'signer', signer }]);
    authority.resetLog();
    for (let i = 0; i < tenants.length; i += 50) {
      await Promise.all(
        tenants
          .slice(i, i + 50)
          .map((tenantId) => app!.tokens.getAccessToken(authority.apiScope, { tenantId })),
      );
    }
    const requests = authority.countTokenRequests();
    expect(requests).toBe(1000);
    expect(signer.signatures).toBe(1000);
    expect(new Set(assertions().map((e) => e.jti)).size).toBe(1000);
  }, 60_000);
});

import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { startDevAuthority } from '@app/dev-authority';
import { findLeaks } from '../support/leak-scan';
import { startRedisServer } from '../support/redis-server';
import { localCredential, startTokenApp, TokenApp } from '../support/token-app';
import { releaseAll, useFixtures } from '../support/fixtures';
import { eventually } from '../support/waiting';

const [authority] = useFixtures(startDevAuthority);
const PROXY_PASSWORD = 'proxy-password-0f3c9a';
const GATEWAY_KEY = 'gateway-key-7d21b4e8';

/**
 * Runs success and failure flows with every log line, error and serialisation captured, and
 * checks that no secret, private key, client assertion or access token — nor a part of one — shows.
 */
describe('TokenService: secrets stay secret', () => {
  const apps: TokenApp[] = [];

  afterAll(async () => {
    await releaseAll(...apps);
  });

  it('shows none in logs, errors, stats or serialised objects', async () => {
    const tenant = authority.createTenant();
    authority.setAccessTokenLifetime(4, { tenantId: tenant.tenantId, refreshInSeconds: 1 });
    const app1 = tenant.createApp();
    const secret = app1.addSecret();
    const app2 = tenant.createApp();
    const cert = await app2.addCertificate();
    const assertions: string[] = [];
    const app = await startTokenApp({
      credentials: {
        secret: localCredential(authority, tenant.tenantId, app1.clientId, [
          { type: 'secret', secret },
        ]),
        wrongSecret: localCredential(authority, tenant.tenantId, app1.clientId, [
          { type: 'secret', secret: `${secret}x` },
        ]),
        cert: localCredential(authority, tenant.tenantId, app2.clientId, [
          {
            type: 'certificate',
            certificate: cert.certificatePem,
            privateKey: cert.privateKeyPem,
          },
        ]),
      },
      defaultCredential: 'secret',
      retry: { maxAttempts: 1, initialDelayMs: 20, maxDelayMs: 100 },
    });
    apps.push(app);
    authority.resetLog();

    const seen: string[] = [];
    const tokens = [
      await app.tokens.getAccessToken(authority.apiScope),
      await app.tokens.getAccessToken(authority.apiScope, { credential: 'cert' }),
    ];
    await app.tokens.getAccessToken(authority.apiScope); // in use: refreshed in the background
    const rejected = await app.tokens
      .getAccessToken(authority.apiScope, { credential: 'wrongSecret' })
      .then(
        () => 'resolved',
        (e: Error) => `${e.message} ${inspect(e)} ${JSON.stringify(e)}`,
      );
    seen.push(rejected);
    // A failing background refresh logs a warning: make it fail.
    authority.faults.add({
      target: 'token',
      tenantId: tenant.tenantId,
      kind: 'status',
      status: 503,
    });
    // Until the refresh, due at refreshOn, has failed and said so (a loaded machine gets there late).
    await eventually(() =>
      app.logger.lines.some((l) => l.level === 'warn' && l.message.includes('Background refresh')),
    );
    authority.faults.clear();

    seen.push(app.logger.text);
    seen.push(inspect(tokens, { depth: 5 }), JSON.stringify(tokens));
    seen.push(inspect(app.tokens, { depth: 8 }), JSON.stringify(app.tokens));
    seen.push(JSON.stringify(app.tokens.getStats('wrongSecret')));
    const all = seen.join('\n');

    expect(
      app.logger.lines.some((l) => l.level === 'warn' && l.message.includes('Background refresh')),
    ).toBe(true);
    expect(all).toContain('AADSTS7000215');
    for (const t of tokens) assertions.push(t.token);
    const secrets = {
      secret,
      key: cert.privateKeyPem,
      ...Object.fromEntries(assertions.entries()),
    };
    expect(findLeaks(all, secrets, [authority.caPem, cert.certificatePem])).toEqual([]);
    // Client assertions the authority received (their signatures) never show either.
    for (const e of authority.log) if (e.jti) expect(all).not.toContain(e.jti);
  });

  it('keeps secrets, keys and encryption keys out of reach of any property walk', async () => {
    const redis = await startRedisServer();
    try {
      const tenant = authority.createTenant();
      const app1 = tenant.createApp();
      const secret = app1.addSecret();
      const app2 = tenant.createApp();
      const cert = await app2.addCertificate();
      const encryptionKey = randomBytes(32);
      const app = await startTokenApp({
        credentials: {
          secret: {
            ...localCredential(authority, tenant.tenantId, app1.clientId, [
              { type: 'secret', secret },
            ]),
            // Never used (loopback goes direct); its password and the header's value must not show.
            proxy: { url: `http://svc-user:${PROXY_PASSWORD}@127.0.0.1:9`, noProxy: ['127.0.0.1'] },
            tokenRequest: { headers: { 'x-gateway-key': GATEWAY_KEY } },
          },
          cert: localCredential(authority, tenant.tenantId, app2.clientId, [
            {
              type: 'certificate',
              certificate: cert.certificatePem,
              privateKey: cert.privateKeyPem,
            },
          ]),
        },
        defaultCredential: 'secret',
        cache: {
          shared: {
            redisUrl: redis.url,
            encryptionKeys: [{ id: 'k1', key: encryptionKey.toString('base64') }],
          },
        },
      });
      apps.push(app);
      const tokens = [
        await app.tokens.getAccessToken(authority.apiScope),
        await app.tokens.getAccessToken(authority.apiScope, { credential: 'cert' }),
      ];

      // What a debugger or a careless `inspect` walks: every property, hidden ones too, with no
      // custom inspector to hide behind. Only #private fields and closures are out of reach.
      const walked = inspect(app.tokens, {
        customInspect: false,
        showHidden: true,
        depth: Infinity,
        maxArrayLength: Infinity,
        maxStringLength: Infinity,
        breakLength: Infinity,
      });
      const hex = encryptionKey.toString('hex');
      const forms = {
        secret,
        proxyPassword: PROXY_PASSWORD,
        gatewayKey: GATEWAY_KEY,
        // The cached tokens too: they are bearer credentials of their own.
        secretToken: tokens[0].token,
        certificateToken: tokens[1].token,
        encryptionKeyBase64: encryptionKey.toString('base64'),
        // How inspect prints a Buffer (and its ArrayBuffer): hex bytes.
        encryptionKeyBytes: hex.match(/../g)!.join(' '),
        encryptionKeyHex: hex,
        ...Object.fromEntries(
          (cert.privateKeyPem.replace(/-----[A-Z ]+-----|\s/g, '').match(/.{1,64}/g) ?? []).map(
            (line, i) => [`privateKeyLine${i}`, line],
          ),
        ),
      };
      const found = Object.entries(forms)
        .filter(([, value]) => walked.includes(value))
        .map(([name]) => name);
      expect(found).toEqual([]);
    } finally {
      await redis.stop();
    }
  });
});

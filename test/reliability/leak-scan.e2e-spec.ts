import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createClient } from '@keyv/redis';
import { startDevAuthority } from '@app/dev-authority';
import type { CredentialOptions, SharedCacheOptions } from '@app/client-credentials';
import { signClientAssertion } from '../support/client-assertion';
import { captureOutput, errorText, findLeaks } from '../support/leak-scan';
import { useFixtures } from '../support/fixtures';
import { startRedisServer } from '../support/redis-server';
import {
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';
import { sleep } from '../support/waiting';

const SUBJECT = 'system:serviceaccount:jobs:leak-scan';

const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);

/**
 * Every source kind, their failures, background refresh failures and a shared Redis cache that
 * goes down, with everything a user or operator could see captured — the library's log, the
 * console and stdout/stderr, every error's message/stack/inspect/JSON, stats and serialised
 * services, and every key and value written to Redis — then searched for every secret, private
 * key, client assertion, federated token, encryption key and access token, by 16-character windows.
 */
describe('Leak scan: no secret shows anywhere, in success or failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-leak-'));
  const apps: TokenApp[] = [];
  const env = { ...process.env };

  beforeAll(() => {
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  afterAll(async () => {
    process.env = env;
    await Promise.all(apps.map((a) => a.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('across secret, certificate, SNI, mTLS PoP, assertion, workload and managed identity, and Redis', async () => {
    const output = captureOutput();
    const secrets: Record<string, string> = {};
    const publicText = [authority.caPem];
    const seen: string[] = [];
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => seen.push('resolved'),
        (e: unknown) => seen.push(errorText(e)),
      );
    try {
      const tenant = authority.createTenant();
      const { tenantId } = tenant;
      authority.setAccessTokenLifetime(4, { tenantId, refreshInSeconds: 1 });
      const reg = () => tenant.createApp();

      const s = reg();
      secrets.secret = s.addSecret();
      secrets.wrongSecret = `${secrets.secret.slice(0, -4)}XXXX`;
      const c = reg();
      const cert = await c.addCertificate();
      secrets.certificateKey = cert.privateKeyPem;
      publicText.push(cert.certificatePem);
      const sni = reg();
      const sniCert = await sni.addSniCertificate();
      secrets.sniKey = sniCert.privateKeyPem;
      publicText.push(sniCert.chainPem);
      const mp = reg();
      const mtlsCert = await mp.addSniCertificate();
      secrets.mtlsKey = mtlsCert.privateKeyPem;
      publicText.push(mtlsCert.chainPem);
      const a = reg();
      const aCert = await a.addCertificate();
      secrets.assertionSigningKey = aCert.privateKeyPem;
      publicText.push(aCert.certificatePem);
      const unregistered = await reg().addCertificate();
      secrets.unregisteredKey = unregistered.privateKeyPem;
      publicText.push(unregistered.certificatePem);
      let assertions = 0;
      const assertion = (key: typeof aCert) => async (ctx: { tokenEndpoint: string }) => {
        const jwt = await signClientAssertion({
          privateKeyPem: key.privateKeyPem,
          clientId: a.clientId,
          audience: ctx.tokenEndpoint,
          thumbprintSha256: key.thumbprintSha256,
        });
        secrets[`assertion${assertions++}`] = jwt;
        return jwt;
      };
      const w = reg();
      w.addFederatedCredential({ issuer: authority.externalIssuer.url, subject: SUBJECT });
      const wiFile = join(dir, 'wi-token');
      secrets.federatedToken = await authority.externalIssuer.mintToken({ subject: SUBJECT });
      writeFileSync(wiFile, secrets.federatedToken);
      const badWiFile = join(dir, 'wi-bad-token');
      secrets.badFederatedToken = await authority.externalIssuer.mintToken({ subject: 'x:y' });
      writeFileSync(badWiFile, secrets.badFederatedToken);
      authority.createManagedIdentity({ tenantId, kind: 'system', roles: ['Data.Read'] });
      const shared: SharedCacheOptions = {
        redisUrl: redis.url,
        encryptionKeys: [
          { id: 'k2', key: randomBytes(32).toString('base64') },
          { id: 'k1', key: randomBytes(32).toString('hex') },
        ],
        operationTimeoutMs: 200,
        connectTimeoutMs: 200,
      };
      shared.encryptionKeys.forEach((k, i) => (secrets[`encryptionKey${i}`] = k.key));

      const credentials: Record<string, CredentialOptions> = {
        secret: localCredential(authority, tenantId, s.clientId, [
          { type: 'secret', secret: secrets.secret },
        ]),
        wrongSecret: localCredential(authority, tenantId, s.clientId, [
          { type: 'secret', secret: secrets.wrongSecret },
        ]),
        certificate: localCredential(authority, tenantId, c.clientId, [
          {
            type: 'certificate',
            certificate: cert.certificatePem,
            privateKey: cert.privateKeyPem,
          },
        ]),
        sni: localCredential(authority, tenantId, sni.clientId, [
          {
            type: 'certificate',
            certificate: sniCert.chainPem,
            privateKey: sniCert.privateKeyPem,
            sendX5c: true,
          },
        ]),
        mtlsPop: {
          ...localCredential(authority, tenantId, mp.clientId, [
            {
              type: 'certificate',
              certificate: mtlsCert.chainPem,
              privateKey: mtlsCert.privateKeyPem,
              sendX5c: true,
            },
          ]),
          mtls: { authorityHost: authority.mtlsUrl },
        },
        assertion: localCredential(authority, tenantId, a.clientId, [
          { type: 'assertion', getAssertion: assertion(aCert) },
        ]),
        badAssertion: localCredential(authority, tenantId, a.clientId, [
          { type: 'assertion', getAssertion: assertion(unregistered) },
        ]),
        workload: localCredential(authority, tenantId, w.clientId, [
          { type: 'workload-identity', tokenFilePath: wiFile },
        ]),
        badWorkload: localCredential(authority, tenantId, w.clientId, [
          { type: 'workload-identity', tokenFilePath: badWiFile },
        ]),
        managedIdentity: localManagedIdentity(authority),
      };
      const options = {
        credentials,
        defaultCredential: 'secret',
        cache: { shared },
        retry: { maxAttempts: 1, initialDelayMs: 20, maxDelayMs: 100, sourceCoolDownMs: 100 },
      };
      const first = await startTokenApp(options);
      apps.push(first);
      const scope = authority.apiScope;

      const good = [
        'secret',
        'certificate',
        'sni',
        'mtlsPop',
        'assertion',
        'workload',
        'managedIdentity',
      ];
      const tokens = await Promise.all(
        good.map((credential) => first.tokens.getAccessToken(scope, { credential })),
      );
      for (const bad of ['wrongSecret', 'badAssertion', 'badWorkload']) {
        await failure(first.tokens.getAccessToken(scope, { credential: bad }));
      }
      // A replica served from Redis, which decrypts what the first one wrote.
      const second = await startTokenApp(options);
      apps.push(second);
      tokens.push(await second.tokens.getAccessToken(scope));
      expect(tokens[tokens.length - 1].token).toBe(tokens[0].token);

      // What sits in Redis.
      const raw = createClient({ url: redis.url });
      await raw.connect();
      for (const key of await raw.keys('*')) seen.push(key, (await raw.get(key)) ?? '');
      raw.destroy();

      // Background refreshes fail (the token endpoint and the managed identity endpoint are down):
      // of fresh tokens, in use, whose refresh falls due 1 s from now — however late a loaded
      // machine gets here.
      for (const credential of good) {
        tokens.push(await first.tokens.getAccessToken(scope, { credential, forceRefresh: true }));
      }
      authority.faults.add({ target: 'token', tenantId, kind: 'status', status: 503 });
      authority.faults.add({ target: 'managed-identity', kind: 'non-json' });
      // A token already past its 3 s of use (a loaded machine gets here late) is asked for instead,
      // and fails the same way: its error is scanned too.
      for (const credential of good)
        await failure(first.tokens.getAccessToken(scope, { credential }));
      await sleep(1600);
      authority.faults.clear();
      // Garbage answers, and Redis gone while tokens are fetched and written.
      for (const kind of ['html502', 'non-json', 'reset'] as const) {
        const id = authority.faults.add({ target: 'token', tenantId, kind, times: 1 });
        await failure(first.tokens.getAccessToken(scope, { forceRefresh: true }));
        authority.faults.remove(id);
      }
      await redis.kill();
      for (const credential of good) {
        const t = await first.tokens
          .getAccessToken(scope, { credential, forceRefresh: true })
          .catch(errorText);
        if (typeof t === 'string') seen.push(t);
        else tokens.push(t);
      }
      await sleep(300);

      for (const app of [first, second]) {
        seen.push(app.logger.text, inspect(app.tokens, { depth: 8 }), JSON.stringify(app.tokens));
        seen.push(JSON.stringify(app.tokens.getCacheStats()));
        for (const name of app.tokens.credentialNames)
          seen.push(JSON.stringify(app.tokens.getStats(name)));
      }
      tokens.forEach((t, i) => (secrets[`accessToken${i}`] = t.token));
      seen.push(inspect(tokens, { depth: 5 }), JSON.stringify(tokens));
    } finally {
      output.restore();
    }
    seen.push(output.text);
    const haystack = seen.join('\n');

    // The flows ran: rejections, refresh failures and Redis errors are all in what was scanned.
    expect(haystack).toContain('AADSTS7000215');
    expect(haystack).toContain('700027');
    expect(haystack).toContain('700213');
    expect(haystack).toContain('Background refresh');
    expect(haystack).toMatch(/redis/i);
    expect(Object.keys(secrets).filter((k) => k.startsWith('assertion')).length).toBeGreaterThan(1);
    expect(Object.keys(secrets).filter((k) => k.startsWith('accessToken')).length).toBeGreaterThan(
      6,
    );

    // Public material (CA and certificates) shares DER prefixes and names with keys and tokens.
    expect(findLeaks(haystack, secrets, publicText)).toEqual([]);
    // …and the scan does find one when there is one.
    const planted = secrets.federatedToken.slice(-20, -4); // from its signature: its own
    expect(findLeaks(`${haystack} ${planted}`, secrets, publicText)).toEqual([
      `federatedToken: '${planted}'`,
    ]);
    // Nor the ids of the assertions the library signed itself (certificate and SNI sources).
    const jtis = authority.log.flatMap((e) => (e.jti ? [e.jti] : []));
    expect(jtis.length).toBeGreaterThan(2);
    for (const jti of jtis) expect(haystack).not.toContain(jti);
  }, 30_000);
});

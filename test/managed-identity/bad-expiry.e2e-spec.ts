import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { sleep } from '../support/waiting';

const [authority] = useFixtures(startDevAuthority);

/**
 * A managed identity endpoint whose `expires_on` is not a usable time (msal-node turns 1e20 into
 * an Invalid Date): the token is refused as an invalid response, never cached or served — one
 * cached with a NaN expiry was served forever and stopped the refresh of every other token.
 * The endpoint is a loopback stub in App Service's shape (IDENTITY_ENDPOINT / IDENTITY_HEADER).
 */
describe('A managed identity answer without a usable expiry', () => {
  let stub: Server;
  let expiresOn: unknown;
  let requests = 0;
  let app: TokenApp | undefined;
  const env = { ...process.env };

  beforeAll(async () => {
    stub = createServer((req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          access_token: `stub-token-${requests}`,
          expires_on: expiresOn,
          resource: 'api://dev-api',
          token_type: 'Bearer',
        }),
      );
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    process.env.IDENTITY_ENDPOINT = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/msi/token`;
    process.env.IDENTITY_HEADER = 'stub-header';
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    process.env = env;
    await new Promise((resolve) => stub.close(resolve));
  });

  it.each([
    ['1e20 (an Invalid Date)', 1e20],
    ['"1e400"', '1e400'],
    ['in the past', Math.floor(Date.now() / 1000) - 3600],
    ['30 days ahead', Math.floor(Date.now() / 1000) + 30 * 86_400],
  ])(
    'expires_on %s: invalid_response, nothing cached, other tokens still refreshed',
    async (_, value) => {
      expiresOn = value;
      const tenant = authority.createTenant();
      authority.setAccessTokenLifetime(6, { tenantId: tenant.tenantId, refreshInSeconds: 1 });
      const reg = tenant.createApp();
      app = await startTokenApp({
        credentials: {
          mi: { sources: [{ type: 'managed-identity' }] },
          api: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'secret', secret: reg.addSecret() },
          ]),
        },
        defaultCredential: 'api',
        refresh: { jitter: 0, expirySkewSeconds: 1 },
        retry: { maxAttempts: 1 },
      });
      const { tokens } = app;
      const before = requests;
      for (let i = 0; i < 2; i++) {
        await expect(
          tokens.getAccessToken('api://dev-api/.default', { credential: 'mi' }),
        ).rejects.toMatchObject({ code: 'invalid_response' });
      }
      // Nothing cached or served (the second call meets the cool-down of the first failure).
      expect(requests - before).toBeGreaterThanOrEqual(1);
      expect(tokens.getStats('mi').cacheHits).toBe(0);

      // Another credential's token, in use, is still refreshed at its refresh point (1 s in).
      const first = await tokens.getAccessToken(authority.apiScope);
      await tokens.getAccessToken(authority.apiScope);
      for (let waited = 0; tokens.getStats('api').refreshes === 0 && waited < 8000; waited += 100)
        await sleep(100);
      expect(tokens.getStats('api').refreshes).toBe(1);
      expect((await tokens.getAccessToken(authority.apiScope)).token === first.token).toBe(false);
    },
    20_000,
  );
});

import { HealthIndicatorService } from '@nestjs/terminus';
import { ClientCredentialsHealthIndicator } from '@app/client-credentials/health';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * Health judges a credential on each scope it asked for: a scope the authority refuses for every
 * caller (an API not registered, a typo) is neither hidden by another scope's success nor taken
 * for the credential failing where it works.
 */
describe('health of a credential with a scope that always fails (e2e)', () => {
  let app: TokenApp | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it('down while nothing works, then degraded listing the scope — never up while it fails', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
      retry: { maxAttempts: 1 },
    });
    const tokens = app.tokens;
    const indicator = new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService());
    const health = () =>
      (
        indicator.isHealthy('c').c as unknown as {
          credentials: { api: { status: string; failingScopes?: Record<string, unknown> } };
        }
      ).credentials.api;
    const bad = 'api://orders-not-registered/.default';
    const askBad = () =>
      tokens.getAccessToken(bad).then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );

    expect(await askBad()).toBe('request_rejected');
    expect(health().status).toBe('down');
    await tokens.getAccessToken(authority.apiScope);
    expect(health()).toMatchObject({
      status: 'degraded',
      failingScopes: { [bad]: { code: 'request_rejected' } },
    });
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(health().status).toBe('degraded');
    expect(await askBad()).not.toBe('ok');
    expect(health().status).toBe('degraded');
    expect(
      authority.countTokenRequests({ clientId: reg.clientId, scope: authority.apiScope }),
    ).toBe(2);
  });
});

import { startDevAuthority, type DevAuthority } from '@app/dev-authority';
import { startTokenApp } from '../support/token-app';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What keeps a Node process busy, by kind (timers, sockets…), as Node itself reports it. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** app.close() leaves no timer, socket or watcher of the library behind. */
describe('TokenService shutdown', () => {
  let authority: DevAuthority;

  beforeAll(async () => {
    authority = await startDevAuthority();
  });
  afterAll(async () => {
    await authority.close();
  });

  it('releases refresh timers, retry timers and connections on app.close()', async () => {
    const tenant = authority.createTenant();
    authority.setAccessTokenLifetime(60, { tenantId: tenant.tenantId, refreshInSeconds: 30 });
    const reg = tenant.createApp();
    await sleep(50);
    const before = resources();

    const app = await startTokenApp({
      credentials: {
        api: {
          tenantId: tenant.tenantId,
          clientId: reg.clientId,
          authorityHost: authority.url,
          ca: authority.caPem,
          sources: [{ type: 'secret', secret: reg.addSecret() }],
        },
      },
    });
    // Tokens in use (a refresh timer each), one for another resource, and a failing one (a cool-down).
    authority.createResource({ appIdUri: 'api://other' });
    await app.tokens.getAccessToken(authority.apiScope);
    await app.tokens.getAccessToken(authority.apiScope);
    await app.tokens.getAccessToken('api://other/.default');
    await app.tokens.getAccessToken('api://unknown/.default').catch(() => undefined);
    const during = resources();
    expect(during.Timeout ?? 0).toBeGreaterThan(before.Timeout ?? 0);

    await app.close();
    await sleep(50);

    expect(resources()).toEqual(before);
    await expect(app.tokens.getAccessToken('api://never/.default')).rejects.toMatchObject({
      code: 'shutdown',
    });
  });
});

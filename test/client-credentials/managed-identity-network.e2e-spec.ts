import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { callApi, localManagedIdentity, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * msal-node sends every managed identity request of the process through one network client. Each
 * credential must still get its own (its timeout, its CA), not the one of the credential started
 * last. (The App Service endpoint is plain HTTP, as on Azure, so the timeouts tell them apart.)
 */
describe('Managed identity requests go through the network client of their credential', () => {
  const apps: TokenApp[] = [];
  const env = { ...process.env };

  beforeAll(() => {
    // msal's managed identity picks the App Service endpoint from these; never IMDS.
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    process.env = env;
  });

  async function start(managedIdentityMs: number, clientId: string) {
    const app = await startTokenApp({
      credentials: {
        mi: localManagedIdentity(authority, { clientId }),
      },
      retry: { maxAttempts: 1 },
      timeouts: { managedIdentityMs, acquireMs: 30_000 },
    });
    apps.push(app);
    return app.tokens;
  }

  it('two credentials with different managed identity timeouts each get their own, whichever started last', async () => {
    const tenantId = authority.createTenant().tenantId;
    const impatient = authority.createManagedIdentity({ tenantId, kind: 'user' });
    const patient = authority.createManagedIdentity({ tenantId, kind: 'user' });
    const short = await start(200, impatient.clientId);
    // Started last: before the fix, every managed identity request went through its client.
    const long = await start(20_000, patient.clientId);
    authority.faults.add({ target: 'managed-identity', kind: 'latency', latencyMs: 1500 });

    const [shortOutcome, longOutcome] = await Promise.allSettled([
      short.getAccessToken(authority.apiScope),
      long.getAccessToken(authority.apiScope),
    ]);

    expect(shortOutcome).toMatchObject({
      status: 'rejected',
      reason: { code: 'timeout', transient: true },
    });
    expect(shortOutcome.status === 'rejected' && String(shortOutcome.reason)).toContain('200 ms');
    expect(longOutcome).toMatchObject({ status: 'fulfilled', value: { source: 'network' } });
    const token = (longOutcome as PromiseFulfilledResult<{ token: string }>).value.token;
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token}`)).toBe(200);
  }, 30_000);
});

import { startTokenApp, type TokenApp } from '../support/token-app';

/**
 * Service Fabric gives an application the identities its cluster assigns; a user-assigned
 * identity asked for at runtime is ignored there (msal-node sends none). The library says so at
 * startup instead of letting the tokens silently be another identity's. No request is made: msal
 * picks Service Fabric from the environment alone. Own jest worker: msal picks its source once per
 * process.
 */
describe('Managed identity on Service Fabric', () => {
  const env = { ...process.env };
  let app: TokenApp | undefined;

  beforeAll(() => {
    // Never reached: the port is closed, and no test here asks for a token.
    process.env.IDENTITY_ENDPOINT = 'https://127.0.0.1:9/metadata/identity/oauth2/token';
    process.env.IDENTITY_HEADER = 'header-of-the-test';
    process.env.IDENTITY_SERVER_THUMBPRINT = '0'.repeat(40);
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(() => {
    process.env = env;
  });

  const start = (clientId?: string) =>
    startTokenApp({
      credentials: { mi: { sources: [{ type: 'managed-identity', clientId }] } },
    });

  it('warns at startup that a user-assigned identity is not chosen per request there', async () => {
    app = await start('00000000-0000-4000-8000-000000000001');
    expect(app.tokens.getStats('mi').managedIdentityHost).toBe('service-fabric');
    const warnings = app.logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain(
      "Managed identity source 'managed-identity#0': Service Fabric does not choose a user-assigned identity",
    );
  });

  it('says nothing for the system-assigned identity', async () => {
    app = await start();
    expect(app.tokens.getStats('mi').managedIdentityHost).toBe('service-fabric');
    expect(app.logger.text).toBe('');
  });
});

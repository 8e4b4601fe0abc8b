import { decodeJwt } from 'jose';
import {
  ConfigurationError,
  type CredentialOptions,
  type TokenRequestContext,
} from '@app/client-credentials';
import { startOidcAuthority, type OidcAuthority } from '../support/oidc-authority';
import { releaseAll } from '../support/fixtures';
import { startTokenApp, type TokenApp } from '../support/token-app';

const SECRET = 'a-long-client-secret-value-0123456789';
const RESOURCE = 'api://oidc-api';

/**
 * A credential's token request parameters and headers (`tokenRequest`) against oidc-provider, a
 * certified authorization server, configured as issuers that need more than a scope: RFC 8707's
 * `resource` parameter, and Auth0's `audience`. Without the parameter the issuer refuses; with it,
 * the token is for that resource.
 */
describe('Token request parameters (oidc-provider requiring resource / audience)', () => {
  let byResource: OidcAuthority | undefined;
  let byAudience: OidcAuthority | undefined;
  const apps: TokenApp[] = [];
  const client = {
    client_id: 'api-client',
    client_secret: SECRET,
    token_endpoint_auth_method: 'client_secret_post' as const,
  };

  beforeAll(async () => {
    byResource = await startOidcAuthority([client], { resourceFrom: 'resource' });
    byAudience = await startOidcAuthority([client], { resourceFrom: 'audience' });
  });
  afterAll(() => releaseAll(...apps, byResource, byAudience));

  const credential = (
    oidc: OidcAuthority,
    tokenRequest?: CredentialOptions['tokenRequest'],
  ): CredentialOptions => ({
    authorityHost: oidc.authorityHost,
    tenantId: oidc.tenant,
    protocol: 'oidc',
    ca: oidc.caPem,
    clientId: 'api-client',
    sources: [{ type: 'secret', secret: SECRET }],
    ...(tokenRequest === undefined ? {} : { tokenRequest }),
  });

  async function start(credentials: Record<string, CredentialOptions>) {
    const app = await startTokenApp({ credentials, retry: { maxAttempts: 1 } });
    apps.push(app);
    return app.tokens;
  }

  it('RFC 8707: refused without `resource`; with the fixed parameter the token is for that resource, one request for many callers', async () => {
    const oidc = byResource!;
    const tokens = await start({
      plain: credential(oidc),
      withResource: credential(oidc, {
        parameters: { resource: RESOURCE },
        headers: { 'x-request-source': 'nightly-sync' },
      }),
    });

    await expect(tokens.getAccessToken(oidc.scope, { credential: 'plain' })).rejects.toMatchObject({
      name: 'TokenRequestRejectedError',
    });
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        tokens.getAccessToken(oidc.scope, { credential: 'withResource' }),
      ),
    );

    expect(new Set(answers.map((t) => t.token)).size).toBe(1);
    expect(decodeJwt(answers[0].token).aud).toBe(RESOURCE);
    expect(oidc.requests.map((r) => r.ok)).toEqual([false, true]);
    expect(oidc.tokenRequestHeaders[1]['x-request-source']).toBe('nightly-sync');
    expect(oidc.tokenRequestHeaders[0]['x-request-source']).toBeUndefined();
  });

  it("Auth0's `audience` from a hook that sees scopes, tenant and client — never the secret", async () => {
    const oidc = byAudience!;
    const seen: TokenRequestContext[] = [];
    const tokens = await start({
      api: credential(oidc, {
        customize: (request) => {
          seen.push(request);
          return { audience: request.scopes[0].replace(/\/\.default$/, '') };
        },
      }),
    });

    const token = await tokens.getAccessToken(oidc.scope);
    await tokens.getAccessToken(oidc.scope); // cached: the hook is not called again

    expect(decodeJwt(token.token).aud).toBe(RESOURCE);
    expect(seen).toEqual([
      { credential: 'api', clientId: 'api-client', tenantId: oidc.tenant, scopes: [oidc.scope] },
    ]);
    expect(JSON.stringify(seen)).not.toContain(SECRET);
    expect(Object.isFrozen(seen[0])).toBe(true);
  });

  it('a hook that names a protocol parameter, throws or never settles fails the call typed, and nothing is sent', async () => {
    const oidc = byAudience!;
    const hook = (customize: () => unknown) =>
      credential(oidc, { customize: customize as () => Record<string, string> });
    const app = await startTokenApp({
      credentials: {
        protocol: hook(() => ({ client_id: 'someone-else' })),
        throws: hook(() => {
          throw new Error('no audience for this scope');
        }),
        hangs: hook(() => new Promise(() => undefined)),
        notText: hook(() => ({ audience: 42 })),
        lookalike: hook(() => ({ ['client_\u0131d']: 'someone-else' })),
        getter: hook(() => ({
          get audience(): string {
            throw new Error('getter boom');
          },
        })),
      },
      timeouts: { requestMs: 300 },
      retry: { maxAttempts: 1 },
    });
    apps.push(app);
    const before = oidc.requests.length;
    const fail = (credential: string) =>
      app.tokens.getAccessToken(oidc.scope, { credential }).catch((e: unknown) => e);

    // The last two: a name that only looks like client_id (dotless i), an answer that throws when read.
    const said: [string, string][] = [
      ['protocol', `"client_id": is the protocol's own parameter`],
      ['throws', 'no audience for this scope'],
      ['hangs', 'did not settle within 300 ms'],
      ['notText', '"audience": must be a string'],
      ['lookalike', 'must be ASCII letters'],
      ['getter', 'getter boom'],
    ];
    for (const [credential, message] of said) {
      expect(await fail(credential)).toMatchObject({
        code: 'request_parameters_invalid',
        message: expect.stringContaining(message),
      });
    }
    expect(oidc.requests.length).toBe(before);
    expect(oidc.tokenRequestHeaders.length).toBe(before);
  });

  it('refuses protocol parameters and headers at start-up, naming them, never their values', async () => {
    const oidc = byResource!;
    const error = await startTokenApp({
      credentials: {
        api: credential(oidc, {
          parameters: {
            scope: 'api://other/.default',
            client_secret: 'leaked-value',
            audience: 'x',
          },
          headers: { Authorization: 'Basic leaked-value', 'x-ok': 'fine' },
        }),
      },
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).problems).toEqual([
      `credentials.api.tokenRequest: parameters."scope": is the protocol's own parameter — the library sets it; remove it`,
      `credentials.api.tokenRequest: parameters."client_secret": is the protocol's own parameter — the library sets it; remove it`,
      `credentials.api.tokenRequest: headers."Authorization": cannot be set — use another header name`,
    ]);
    expect((error as Error).message).not.toContain('leaked-value');
  });
});

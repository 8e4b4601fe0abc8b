import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority, type ManagedIdentity } from '@app/dev-authority';
import { createAuthenticatedFetch, type FetchFunction } from '@app/client-credentials/calling';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localManagedIdentity, startTokenApp, type TokenApp } from '../support/token-app';
import { claimsOf, revokeTokens } from '../calling-apis/control';
import { useSteadily } from './steady-use';

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

const [authority] = useFixtures(startDevAuthority);

/**
 * A revoked managed identity token on App Service (Functions, Container Apps): the endpoint caches
 * the tokens it hands out and answers a new request with the same, revoked one, unless the request
 * names it by its SHA-256 (`token_sha256_to_refresh`, with the client capabilities in `xms_cc`).
 * The library's replacement of a refused token does; an ordinary request does not. msal-node picks
 * its managed identity source once per process: App Service has this file to itself.
 */
describe('Managed identity (App Service): a revoked token is replaced, not served again', () => {
  let http: AuthorityHttp;
  let dispatcher: Agent;
  let tenantId: string;
  let app: TokenApp | undefined;
  const env = { ...process.env };

  beforeAll(() => {
    http = new AuthorityHttp(authority);
    dispatcher = new Agent({ connect: { ca: authority.caPem } });
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
    tenantId = authority.createTenant().tenantId;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await releaseAll(http, dispatcher);
    process.env = env;
  });

  /** A user-assigned identity of its own per test: the endpoint's cache is per identity. */
  const newIdentity = () => authority.createManagedIdentity({ tenantId, kind: 'user' });
  const endpointRequests = (mi: ManagedIdentity) =>
    authority.countTokenRequests({ clientId: mi.clientId, target: 'managed-identity' });

  /** A raw App Service managed identity request, as msal-node sends it, plus `extra`. */
  const askEndpoint = (mi: ManagedIdentity, extra = '') =>
    http.get(
      `${authority.managedIdentity.endpoint}?api-version=2019-08-01&resource=api://dev-api&client_id=${mi.clientId}${extra}`,
      { 'x-identity-header': authority.managedIdentity.header },
    );

  it('the endpoint answers repeat requests from its cache and mints only for the token named by token_sha256_to_refresh', async () => {
    const mi = newIdentity();
    const first = (await askEndpoint(mi)).json.access_token as string;
    expect((await askEndpoint(mi)).json.access_token).toBe(first);

    const replaced = await askEndpoint(mi, `&token_sha256_to_refresh=${sha256(first)}&xms_cc=cp1`);
    expect(replaced.status).toBe(200);
    const second = replaced.json.access_token as string;
    expect(second).not.toBe(first);
    expect(claimsOf(second).xms_cc).toEqual(['cp1']);
    expect(claimsOf(first).xms_cc).toBeUndefined();

    // The replacement is what the cache serves now; a late request naming the old token gets it
    // too (another caller replaced that one already); a hash of another token changes nothing.
    expect((await askEndpoint(mi)).json.access_token).toBe(second);
    expect(
      (await askEndpoint(mi, `&token_sha256_to_refresh=${sha256(first)}`)).json.access_token,
    ).toBe(second);
    expect(
      (await askEndpoint(mi, `&token_sha256_to_refresh=${sha256('another')}`)).json.access_token,
    ).toBe(second);
    // A hash that is not hex SHA-256 (base64, say) is refused rather than silently ignored.
    const base64 = createHash('sha256').update(second).digest('base64');
    const bad = await askEndpoint(mi, `&token_sha256_to_refresh=${encodeURIComponent(base64)}`);
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('token_sha256_to_refresh'),
    });
    expect(endpointRequests(mi)).toBe(7);
  });

  /** An app on the App Service identity `mi`, and an authenticated fetch of the protected API. */
  async function startOn(mi: { clientId: string }) {
    app = await startTokenApp({
      credentials: {
        api: localManagedIdentity(authority, { clientId: mi.clientId }),
      },
    });
    const api = createAuthenticatedFetch(app.tokens, {
      baseUrl: authority.apiUrl,
      scopes: authority.apiScope,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher,
    });
    return { tokens: app.tokens, api };
  }

  it('an API refuses the revoked token: the authenticated fetch gets a new one with one request naming it, and the call succeeds', async () => {
    const mi = newIdentity();
    const { tokens, api } = await startOn(mi);

    expect((await api('data')).status).toBe(200);
    const revoked = await tokens.getAccessToken(authority.apiScope);
    expect(endpointRequests(mi)).toBe(1);
    // An ordinary request (a forced refresh) names no token: the endpoint answers from its cache.
    const refreshed = await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(refreshed.token).toBe(revoked.token);
    expect(endpointRequests(mi)).toBe(2);

    await revokeTokens(authority, tenantId, mi.clientId, 'invalid_token');
    const refusal = await http.callApi(authority.apiUrl, revoked.token);
    expect(refusal.status).toBe(401);
    expect(refusal.headers['www-authenticate']).toContain('error="invalid_token"');

    const res = await api('data');

    expect(res.status).toBe(200);
    expect(((await res.json()) as { appid: string }).appid).toBe(mi.clientId);
    // One managed identity request, and the endpoint minted: it names the revoked token.
    expect(endpointRequests(mi)).toBe(3);
    const replacement = await tokens.getAccessToken(authority.apiScope);
    expect(replacement.token).not.toBe(revoked.token);
    expect(claimsOf(replacement.token).xms_cc).toEqual(['cp1']);
    // The endpoint caches the replacement: any other process of the app gets it too.
    expect((await askEndpoint(mi)).json.access_token).toBe(replacement.token);
  });

  it('a claims challenge to the replacement (it carries cp1) gets a new token the same way', async () => {
    const mi = newIdentity();
    const { tokens, api } = await startOn(mi);
    const first = await tokens.getAccessToken(authority.apiScope);
    await revokeTokens(authority, tenantId, mi.clientId, 'invalid_token');
    const second = await tokens.replaceRefusedToken(authority.apiScope, first.token);
    expect(second!.token).not.toBe(first.token);
    expect(claimsOf(second!.token).xms_cc).toEqual(['cp1']);
    expect(endpointRequests(mi)).toBe(2);

    // A revocation refuses tokens issued before the next whole second: past the one the
    // replacement was issued at, so that this revocation covers it (a wait, not a measurement).
    const issuedAt = claimsOf(second!.token).iat as number;
    while (Date.now() < issuedAt * 1000 + 5) await sleep(issuedAt * 1000 + 5 - Date.now());
    await revokeTokens(authority, tenantId, mi.clientId, 'insufficient_claims');
    const challenge = await http.callApi(authority.apiUrl, second!.token);
    expect(challenge.headers['www-authenticate']).toContain('error="insufficient_claims"');

    const res = await api('data');

    expect(res.status).toBe(200);
    expect(endpointRequests(mi)).toBe(3);
    // The endpoint minted in place of the challenged token and caches the new one.
    const third = (await askEndpoint(mi)).json.access_token as string;
    expect(third).not.toBe(second!.token);
    expect((await http.callApi(authority.apiUrl, third)).status).toBe(200);
  });

  it('a background refresh names the token it renews: the endpoint mints a new one rather than handing its cached one back', async () => {
    // Tokens of 10 s that the endpoint keeps until 2 s before expiry (Azure: 24 h). No jitter:
    // each refresh at exactly half-life (`expires_on` is in whole seconds: of 9–11 s).
    const own = authority.createTenant().tenantId;
    authority.setAccessTokenLifetime(10, { tenantId: own, identityCacheMarginSeconds: 2 });
    const mi = authority.createManagedIdentity({ tenantId: own, kind: 'user' });
    app = await startTokenApp({
      credentials: { api: localManagedIdentity(authority, { clientId: mi.clientId }) },
      refresh: { expirySkewSeconds: 1, jitter: 0 },
    });

    const use = await useSteadily(app.tokens, authority.apiScope, 12_500);

    // One request per half-life (0, ~5, ~10 s; the next after 14.5 s), each answered with a new
    // token. Without the name, the endpoint handed the first one back at 5 and 7 s, and minted
    // only at 8 s.
    expect(endpointRequests(mi)).toBe(3);
    expect(use.failed).toBe(0);
    expect(use.tokens).toHaveLength(3);
  }, 30_000);
});

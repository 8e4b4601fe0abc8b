import { createHash } from 'node:crypto';
import { startDevAuthority } from '@app/dev-authority';
import { InvalidRequestError } from '@app/client-credentials';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { claimsOf, revokeTokens } from './control';

const [authority] = useFixtures(startDevAuthority);

/**
 * The token path after an API refused a token (issue 12), against the local authority over HTTPS:
 * a replacement never re-adopts the refused token and is one request however many callers ask;
 * a claims token satisfies the challenge and is never served to callers without claims.
 */
describe('TokenService: refused tokens and claims challenges', () => {
  let http: AuthorityHttp;
  let app: TokenApp | undefined;

  beforeAll(() => {
    http = new AuthorityHttp(authority);
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(() => releaseAll(http));

  async function start() {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const secret = reg.addSecret();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret },
        ]),
      },
    });
    const count = () => authority.countTokenRequests({ clientId: reg.clientId });
    return { tenantId: tenant.tenantId, clientId: reg.clientId, tokens: app.tokens, count };
  }

  it('declares cp1: the authority issues tokens carrying xms_cc', async () => {
    const { tokens } = await start();
    const token = await tokens.getAccessToken(authority.apiScope);
    expect(claimsOf(token.token).xms_cc).toEqual(['cp1']);
  });

  it('replaces a refused token with one request for 1,000 concurrent callers, never re-adopting it', async () => {
    const { tenantId, clientId, tokens, count } = await start();
    const refused = await tokens.getAccessToken(authority.apiScope);
    await revokeTokens(authority, tenantId, clientId, 'invalid_token');
    const answer = await http.callApi(authority.apiUrl, refused.token);
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(count()).toBe(1);

    const replaced = await Promise.all(
      Array.from({ length: 1000 }, () =>
        tokens.replaceRefusedToken(authority.apiScope, refused.token),
      ),
    );

    expect(count()).toBe(2);
    expect(new Set(replaced.map((t) => t!.token)).size).toBe(1);
    expect(replaced[0]!.token).not.toBe(refused.token);
    expect((await http.callApi(authority.apiUrl, replaced[0]!.token)).status).toBe(200);
    // Later callers, and a late refusal of the old token, get the replacement from the cache.
    expect((await tokens.getAccessToken(authority.apiScope)).token).toBe(replaced[0]!.token);
    expect((await tokens.replaceRefusedToken(authority.apiScope, refused.token))!.token).toBe(
      replaced[0]!.token,
    );
    expect(count()).toBe(2);
  });

  it('answers a claims challenge with a claims token that plain callers never get', async () => {
    const { tenantId, clientId, tokens, count } = await start();
    const plain = await tokens.getAccessToken(authority.apiScope);
    const revokedBefore = await revokeTokens(authority, tenantId, clientId);
    const answer = await http.callApi(authority.apiUrl, plain.token);
    expect(answer.status).toBe(401);
    const challenge = String(answer.headers['www-authenticate']);
    expect(challenge).toContain('error="insufficient_claims"');
    const claims = Buffer.from(/claims="([^"]+)"/.exec(challenge)![1], 'base64').toString();
    expect(JSON.parse(claims)).toEqual({
      access_token: { nbf: { essential: true, value: `${revokedBefore}` } },
    });

    const withClaims = await Promise.all(
      Array.from({ length: 1000 }, () =>
        tokens.getAccessTokenWithClaims(authority.apiScope, claims),
      ),
    );

    expect(count()).toBe(2);
    expect(new Set(withClaims.map((t) => t.token)).size).toBe(1);
    expect(claimsOf(withClaims[0].token).nbf).toBeGreaterThanOrEqual(revokedBefore);
    expect((await http.callApi(authority.apiUrl, withClaims[0].token)).status).toBe(200);
    // The claims token is cached under its claims only.
    expect((await tokens.getAccessToken(authority.apiScope)).token).toBe(plain.token);
    expect((await tokens.getAccessTokenWithClaims(authority.apiScope, claims)).token).toBe(
      withClaims[0].token,
    );
    expect(count()).toBe(2);

    // Once told the plain token is refused, plain callers get a new one: one request.
    tokens.forgetRefusedToken(authority.apiScope, plain.token);
    const fresh = await Promise.all(
      Array.from({ length: 100 }, () => tokens.getAccessToken(authority.apiScope)),
    );
    expect(count()).toBe(3);
    expect(new Set(fresh.map((t) => t.token)).size).toBe(1);
    expect(fresh[0].token).not.toBe(plain.token);
    expect(fresh[0].token).not.toBe(withClaims[0].token);
    expect((await http.callApi(authority.apiUrl, fresh[0].token)).status).toBe(200);
  });

  it('never serves a claims token to a plain call, whatever scope string names its key', async () => {
    const { tokens } = await start();
    const claims = '{"access_token":{"nbf":{"essential":true,"value":"1"}}}';
    const withClaims = await tokens.getAccessTokenWithClaims(authority.apiScope, claims);
    // The claims id as the library computes it (a prefix of the SHA-256 of the claims).
    const id = createHash('sha256').update(claims).digest('base64url').slice(0, 22);
    for (const crafted of [`|claims:${id}`, `\nclaims:${id}`].map((k) => authority.apiScope + k)) {
      const answer = await tokens.getAccessToken(crafted).then(
        (t) => (t.token === withClaims.token ? 'the claims token' : 'a token'),
        (e: { code?: string }) => e.code,
      );
      expect(answer).toBe('scope_invalid');
    }
  });

  it('refuses claims that are not a JSON object before any request', async () => {
    const { tokens, count } = await start();
    await expect(tokens.getAccessTokenWithClaims(authority.apiScope, 'nope')).rejects.toMatchObject(
      { code: 'claims_invalid' },
    );
    await expect(tokens.getAccessTokenWithClaims(authority.apiScope, '[1]')).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    expect(count()).toBe(0);
  });

  it('an API that refuses every token costs one replacement, not a token request per call', async () => {
    const { tokens, count } = await start();
    const first = await tokens.getAccessToken(authority.apiScope);

    // The API refuses the first token, then its replacement at once (a wrong audience, say).
    const second = await tokens.replaceRefusedToken(authority.apiScope, first.token);
    expect(second).toBeDefined();
    const answers = [];
    for (let call = 0; call < 50; call++) {
      const current = await tokens.getAccessToken(authority.apiScope);
      answers.push(await tokens.replaceRefusedToken(authority.apiScope, current.token));
    }

    expect(count()).toBe(2);
    // Callers keep the API's 401 (no new token) and the cache keeps serving the replacement.
    expect(answers.every((a) => a === undefined)).toBe(true);
    expect((await tokens.getAccessToken(authority.apiScope)).token).toBe(second!.token);
  });
});

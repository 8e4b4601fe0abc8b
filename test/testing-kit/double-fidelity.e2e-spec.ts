// The same calls against the real TokenService (msal-node over TLS at the local authority) and
// TokenServiceDouble give the same outcome: a test that passes against the double holds against
// the real service. One app, one double; what still differs is in docs/testing.md.
import { type AccessToken, TokenService } from '@app/client-credentials';
import {
  createLocalApplication,
  startLocalAuthority,
  TokenServiceDouble,
  type LocalAuthority,
} from '@app/client-credentials/testing';
import { startTokenApp, type TokenApp } from '../support/token-app';

type Tokens = Pick<
  TokenService,
  | 'getAccessToken'
  | 'getAuthorizationHeader'
  | 'getRequestHeaders'
  | 'replaceRefusedToken'
  | 'forgetRefusedToken'
  | 'getAccessTokenWithClaims'
  | 'requestHeaders'
  | 'getStats'
>;

/** What a call gave, without the token's value: `token`, `undefined`, a value, or the error's code. */
async function outcome(call: () => unknown): Promise<string> {
  try {
    const value = await call();
    if (value === undefined) return 'undefined';
    if (typeof value === 'string') return value.replace(/ .*/, ' <token>');
    if (typeof value === 'object' && value !== null && 'token' in value) return 'token';
    return JSON.stringify(value);
  } catch (e) {
    return `throws ${(e as { code?: string }).code ?? (e as Error).name}`;
  }
}

describe('TokenServiceDouble answers as TokenService', () => {
  let authority: LocalAuthority;
  let app: TokenApp;
  let scope: string;
  beforeAll(async () => {
    authority = await startLocalAuthority();
    const local = createLocalApplication(authority);
    scope = local.scope;
    app = await startTokenApp({ credentials: { default: local.credential } });
  });
  afterAll(async () => {
    await app?.close();
    await authority?.close();
  });

  it('row by row, the token cached', async () => {
    const real: Tokens = app.tokens;
    const double: Tokens = new TokenServiceDouble({ credentials: ['default'] });
    const rows: [string, (t: Tokens) => unknown, string][] = [
      ['a first token', (t) => t.getAccessToken(scope), 'token'],
      [
        'a signal aborted already',
        (t) => t.getAccessToken(scope, { signal: AbortSignal.abort() }),
        'throws aborted',
      ],
      [
        '…for a header',
        (t) => t.getAuthorizationHeader(scope, { signal: AbortSignal.abort() }),
        'throws aborted',
      ],
      [
        '…for request headers',
        (t) =>
          t.getRequestHeaders(
            scope,
            { method: 'GET', url: 'https://a/' },
            { signal: AbortSignal.abort() },
          ),
        'throws aborted',
      ],
      [
        '…for a claims token',
        (t) => t.getAccessTokenWithClaims(scope, '{}', { signal: AbortSignal.abort() }),
        'throws aborted',
      ],
      ['a header', (t) => t.getAuthorizationHeader(scope), 'Bearer <token>'],
      [
        'claims not a JSON object',
        (t) => t.getAccessTokenWithClaims(scope, '[]'),
        'throws claims_invalid',
      ],
      ['a delegated scope', (t) => t.getAccessToken('User.Read'), 'throws scope_invalid'],
      [
        'forget, an unknown credential',
        (t) => t.forgetRefusedToken(scope, 'x', { credential: 'nope' }),
        'throws credential_unknown',
      ],
      [
        'a DPoP token without a key',
        (t) =>
          t.requestHeaders(
            { token: 'x', tokenType: 'DPoP', credential: 'default' } as AccessToken,
            { method: 'GET', url: 'https://a/' },
          ),
        'throws proof_required',
      ],
    ];
    const seen: string[] = [];
    for (const [name, call, expected] of rows) {
      seen.push(
        `${name}: ${await outcome(() => call(real))} / ${await outcome(() => call(double))}`,
      );
      expect(seen.at(-1)).toBe(`${name}: ${expected} / ${expected}`);
    }

    // The hold-off: a replacement refused at once is not replaced — the caller keeps the 401.
    (double as TokenServiceDouble).willAnswer('first', 'second');
    for (const tokens of [real, double]) {
      const first = await tokens.getAccessToken(scope);
      const replacement = await tokens.replaceRefusedToken(scope, first.token);
      expect(replacement?.token).toBeDefined();
      expect(replacement?.token).not.toBe(first.token);
      await expect(tokens.replaceRefusedToken(scope, replacement!.token)).resolves.toBeUndefined();
      expect(tokens.forgetRefusedToken(scope, replacement!.token)).toBe(false);
      // A caller that gave up gets no token even where one would be replaced.
      await expect(
        tokens.replaceRefusedToken(scope, 'another', { signal: AbortSignal.abort() }),
      ).rejects.toMatchObject({ code: 'aborted' });
    }
  });
});

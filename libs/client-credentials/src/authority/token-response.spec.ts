import { lifetimeFromToken } from './token-response';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: object) => `${b64({ alg: 'RS256' })}.${b64(claims)}.c2ln`;
const NOW = 1_800_000_000_000;
const answer = (body: Record<string, unknown>, status = 200) => ({ status, headers: {}, body });

describe('lifetimeFromToken: an OIDC answer without expires_in', () => {
  it("gives it the seconds left until its JWT's exp", () => {
    const a = answer({ access_token: jwt({ exp: NOW / 1000 + 3600 }) });
    lifetimeFromToken(a, NOW);
    expect(a.body.expires_in).toBe(3600);
  });

  it('leaves an answer that has expires_in, or is no token answer, as it is', () => {
    const told = answer({ access_token: jwt({ exp: NOW / 1000 + 60 }), expires_in: 3599 });
    lifetimeFromToken(told, NOW);
    expect(told.body.expires_in).toBe(3599);
    const refused = answer({ error: 'invalid_client' }, 400);
    lifetimeFromToken(refused, NOW);
    expect(refused.body).toEqual({ error: 'invalid_client' });
  });

  it.each([
    ['an opaque token', 'opaque', 'is not a JWT with an exp claim'],
    ['a JWT without exp', jwt({ sub: 'x' }), 'is not a JWT with an exp claim'],
    ['an expired JWT', jwt({ exp: NOW / 1000 - 5 }), 'exp is -5 s from now'],
    ['a JWT for a year', jwt({ exp: NOW / 1000 + 366 * 86400 }), 'expected 1 to 604800 seconds'],
  ])('refuses %s: invalid_response saying so', (_, token, said) => {
    expect(() => lifetimeFromToken(answer({ access_token: token }), NOW)).toThrow(
      expect.objectContaining({ kind: 'invalid_response', message: expect.stringContaining(said) }),
    );
  });
});

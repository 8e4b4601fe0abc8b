import { randomBytes } from 'node:crypto';
import { AuthorityFailure } from '../errors/authority-failure';
import { TokenEndpointError, TokenRequestRejectedError } from '../errors/client-credentials.errors';
import { toClientCredentialsError } from '../errors/to-client-credentials-error';
import { markHostFailure } from '../errors/host-failure';
import { isShareable, openFailure, sealFailure } from './lock-failure';
import { TokenCipher } from './token-cipher';

/** The sealed failure record's own expiry: a copy replayed after it must not fail anyone. */
describe('lock failure records', () => {
  const cipher = new TokenCipher([{ id: 'k1', key: randomBytes(32) }]);
  const aad = 'client-credentials:lock:{name}';
  const now = 1_700_000_000_000;
  const error = new TokenEndpointError(
    'endpoint_unavailable',
    'The token endpoint answered HTTP 503.',
    { status: 503, tenantId: 't1', credential: 'api' },
    true,
  );

  it('opens as the holder’s error within its time', () => {
    const sealed = sealFailure(error, cipher, aad, 1000, now);

    const opened = openFailure(sealed, cipher, aad, now + 999, 3000);

    expect(opened).toBeInstanceOf(TokenEndpointError);
    expect(opened).toMatchObject({ code: 'endpoint_unavailable', status: 503, tenantId: 't1' });
  });

  it('opens a redirected authority as a refusal, not transient: waiters do not retry it', () => {
    const redirected = toClientCredentialsError(
      new AuthorityFailure('redirected', { status: 302 }, 'a redirect to https://gw.example/x'),
      { credential: 'api', tenantId: 't1' },
    );
    const sealed = sealFailure(redirected, cipher, aad, 1000, now);

    const opened = openFailure(sealed, cipher, aad, now, 3000);

    expect(opened).toBeInstanceOf(TokenRequestRejectedError);
    expect(opened).toMatchObject({ code: 'authority_redirected', transient: false, status: 302 });
  });

  it('carries what is left of the holder’s Retry-After, never more than the authority asked', () => {
    const throttled = new TokenEndpointError(
      'throttled',
      'The token endpoint answered HTTP 429.',
      { status: 429, retryAfterMs: 30_000 },
      true,
    );
    const sealed = sealFailure(throttled, cipher, aad, 3000, now);

    expect(openFailure(sealed, cipher, aad, now + 2000, 3000)).toMatchObject({
      retryAfterMs: 28_000,
    });
    expect(openFailure(sealed, cipher, aad, now, 3000)).toMatchObject({ retryAfterMs: 30_000 });
    // A reader whose clock is behind the holder's: still the authority's 30 s at most.
    expect(openFailure(sealed, cipher, aad, now - 1000, 4000)).toMatchObject({
      retryAfterMs: 30_000,
    });
    // A record of before `retryUntil`: the whole Retry-After, as then.
    const older = JSON.stringify({
      v: 2,
      exp: now + 3000,
      kind: 'endpoint',
      code: 'throttled',
      message: 'm',
      retryAfterMs: 30_000,
    });
    expect(openFailure(cipher.seal(older, aad), cipher, aad, now + 2000, 3000)).toMatchObject({
      retryAfterMs: 30_000,
    });
  });

  it('is expired from the end of its time on, whatever Redis kept', () => {
    const sealed = sealFailure(error, cipher, aad, 1000, now);

    expect(openFailure(sealed, cipher, aad, now + 1000, 3000)).toBe('expired');
    expect(openFailure(sealed, cipher, aad, now + 86_400_000, 3000)).toBe('expired');
  });

  it('is expired when it claims to live longer than a lock (its writer’s clock far ahead)', () => {
    const sealed = sealFailure(error, cipher, aad, 1000, now + 3_600_000);

    expect(openFailure(sealed, cipher, aad, now, 3000)).toBe('expired');
  });

  it('does not open with its expiry altered, nor under another name', () => {
    const sealed = sealFailure(error, cipher, aad, 1000, now);
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[4], 'base64url');
    // Flip one bit of the ciphertext: GCM rejects it, expiry included.
    ct[10] ^= 1;
    const altered = [...parts.slice(0, 4), ct.toString('base64url')].join('.');

    expect(openFailure(altered, cipher, aad, now, 3000)).toBeUndefined();
    expect(openFailure(sealed, cipher, `${aad}x`, now, 3000)).toBeUndefined();
  });

  it('ignores a record of the first format, which has no expiry of its own', () => {
    const v1 = JSON.stringify({
      v: 1,
      kind: 'endpoint',
      code: 'endpoint_unavailable',
      message: 'm',
    });

    expect(openFailure(cipher.seal(v1, aad), cipher, aad, now, 3000)).toBeUndefined();
  });

  describe('what is shared with the waiters', () => {
    const where = { credential: 'api', tenantId: 't1' };
    const typed = (kind: AuthorityFailure['kind'], detail = {}) =>
      toClientCredentialsError(new AuthorityFailure(kind, detail, 'm'), where);

    it('the authority’s answers: 5xx, 429, an answer that is no token, a refusal of the request', () => {
      expect(isShareable(typed('endpoint_unavailable', { status: 503 }))).toBe(true);
      expect(isShareable(typed('throttled', { status: 429, retryAfterMs: 5000 }))).toBe(true);
      expect(isShareable(typed('invalid_response', { status: 200 }))).toBe(true);
      expect(isShareable(typed('rejected', { status: 400, oauthError: 'invalid_scope' }))).toBe(
        true,
      );
    });

    it('not what never reached the authority, nor the holder’s own: network, timeout, its refused tokens', () => {
      expect(isShareable(typed('network_error'))).toBe(false);
      expect(isShareable(typed('timeout'))).toBe(false);
      const reissued = new TokenEndpointError('refused_token_reissued', 'm', where, true);
      expect(isShareable(reissued)).toBe(false);
    });

    it('not a refusal of the holder’s credential (a rotation under way)', () => {
      const refused = typed('rejected', { status: 401, oauthError: 'invalid_client' });
      expect(refused.code).toBe('credential_rejected');
      expect(isShareable(refused)).toBe(false);
    });

    it('never a managed identity endpoint’s answer: it is per host, even a 429 or a refusal', () => {
      const imds = (kind: AuthorityFailure['kind'], detail = {}) =>
        toClientCredentialsError(markHostFailure(new AuthorityFailure(kind, detail, 'm')), where);
      expect(isShareable(imds('throttled', { status: 429, retryAfterMs: 5000 }))).toBe(false);
      expect(isShareable(imds('endpoint_unavailable', { status: 500 }))).toBe(false);
      expect(isShareable(imds('rejected', { status: 400, oauthError: 'invalid_request' }))).toBe(
        false,
      );
    });
  });
});

import { CALLING_ERROR_CATALOG, DownstreamApiError } from './calling.errors';

describe('DownstreamApiError hints', () => {
  const hintOf = (challenge?: string) =>
    new DownstreamApiError('api_unauthorized', 'refused.', { status: 401, challenge }).hint;

  it('points a refused DPoP proof at the proof (nonce, clock, URL), not at scopes', () => {
    for (const challenge of [
      'DPoP error="use_dpop_nonce", algs="ES256"',
      'DPoP error="invalid_dpop_proof", error_description="iat"',
      'Bearer realm="x", DPoP error="invalid_dpop_proof"',
    ]) {
      expect(hintOf(challenge)).toMatch(/DPoP proof.*clock.*proxy/);
    }
  });

  it("keeps the catalogue's hint for a refused token", () => {
    const fix = CALLING_ERROR_CATALOG.api_unauthorized.fix;
    expect(hintOf('Bearer error="invalid_token"')).toBe(fix);
    expect(hintOf('DPoP error="invalid_token", algs="ES256"')).toBe(fix);
    expect(hintOf(undefined)).toBe(fix);
  });
});

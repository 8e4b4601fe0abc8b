import { isCertificateFailure, normalizeThumbprint, PIN_MISMATCH } from './pinned-agent';

describe('pinned-agent helpers', () => {
  it('reads SHA-1 and SHA-256 thumbprints as platforms write them, and nothing else', () => {
    expect(normalizeThumbprint('AB'.repeat(20))).toBe('ab'.repeat(20));
    expect(normalizeThumbprint(Array(20).fill('Ab').join(':'))).toBe('ab'.repeat(20));
    expect(normalizeThumbprint(` ${'0f'.repeat(32)} `)).toBe('0f'.repeat(32));
    for (const bad of ['', 'ab'.repeat(19), 'zz'.repeat(20), 'ab'.repeat(24)]) {
      expect(normalizeThumbprint(bad)).toBeUndefined();
    }
  });

  it('tells certificate failures from other connection failures', () => {
    for (const code of [
      PIN_MISMATCH,
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'ERR_TLS_CERT_ALTNAME_INVALID',
    ]) {
      expect(isCertificateFailure({ code })).toBe(true);
    }
    for (const reason of [{ code: 'ECONNREFUSED' }, { code: 'ECONNRESET' }, undefined, 'x']) {
      expect(isCertificateFailure(reason)).toBe(false);
    }
  });
});

import { randomBytes } from 'node:crypto';
import { MAX_SEALED_LENGTH, TokenCipher } from './token-cipher';

describe('TokenCipher', () => {
  const cipher = new TokenCipher([{ id: 'k1', key: randomBytes(32) }]);

  it('opens an entry of a token with many group claims (16 KB)', () => {
    const plain = 'x'.repeat(16 * 1024);

    expect(cipher.open(cipher.seal(plain, 'name'), 'name')).toEqual({ plain });
  });

  it('refuses by its length, before any decoding, an entry longer than any sealed token', () => {
    const sealed = cipher.seal('x'.repeat(MAX_SEALED_LENGTH), 'name');

    expect(sealed.length).toBeGreaterThan(MAX_SEALED_LENGTH);
    expect(cipher.open(sealed, 'name')).toBe('rejected');
  });
});

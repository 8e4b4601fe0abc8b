import { constants, createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { signDigest } from './digest-signature';

describe("the emulated vault's signature of a digest", () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('PS256: verifies as RSASSA-PSS (SHA-256, MGF1, 32-byte salt) of the message, every time', () => {
    for (let i = 0; i < 20; i++) {
      const message = randomBytes(100);
      const signature = signDigest(
        privateKey,
        'PS256',
        createHash('sha256').update(message).digest(),
      );
      const ok = verify(
        'sha256',
        message,
        { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signature,
      );
      expect(ok).toBe(true);
    }
  });

  it('RS256: verifies as RSASSA-PKCS1-v1_5 of the message', () => {
    const message = Buffer.from('header.payload');
    const signature = signDigest(
      privateKey,
      'RS256',
      createHash('sha256').update(message).digest(),
    );
    expect(verify('sha256', message, publicKey, signature)).toBe(true);
  });
});

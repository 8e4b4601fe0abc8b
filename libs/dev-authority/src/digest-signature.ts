import { constants, createHash, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * A signature of a SHA-256 digest, as Key Vault makes it: it is given the digest, not the message.
 * node:crypto signs messages only (it hashes them itself), so the padding is applied here and the
 * raw RSA operation done by privateEncrypt: PKCS#1 v1.5 over the DigestInfo (RS256), or EMSA-PSS
 * (RFC 8017 §9.1.1: MGF1-SHA-256, a 32-byte salt) with no padding (PS256). No library of ours
 * signs a precomputed digest with PSS.
 */
export function signDigest(key: KeyObject, alg: 'RS256' | 'PS256', digest: Buffer): Buffer {
  if (alg === 'RS256') {
    return privateEncrypt(
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.concat([SHA256_DIGEST_INFO, digest]),
    );
  }
  const modBits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(32);
  const h = createHash('sha256')
    .update(Buffer.concat([Buffer.alloc(8), digest, salt]))
    .digest();
  const db = Buffer.concat([
    Buffer.alloc(emLen - salt.length - h.length - 2),
    Buffer.from([1]),
    salt,
  ]);
  const mask = mgf1(h, db.length);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  // The encoded message is one byte shorter than the modulus when modBits − 1 is a multiple of 8.
  const padded = em.length < modBits / 8 ? Buffer.concat([Buffer.alloc(1), em]) : em;
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, padded);
}

/** MGF1 with SHA-256 (RFC 8017 §B.2.1). */
function mgf1(seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * 32 < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(
      createHash('sha256')
        .update(Buffer.concat([seed, c]))
        .digest(),
    );
  }
  return Buffer.concat(out).subarray(0, length);
}

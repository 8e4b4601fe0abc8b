import { constants, generateKeyPairSync, sign } from 'node:crypto';
import {
  algorithmProblem,
  checkedSignature,
  signatureProblem,
  type SigningCertificate,
} from './signing-certificate';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const certOf = (
  publicKey: SigningCertificate['publicKey'],
  keyType: string,
): SigningCertificate => ({
  publicKey,
  keyType,
  thumbprintSha256: 't',
  thumbprintSha1: 't1',
  x5c: [],
  notAfter: new Date(),
  others: [],
});
const data = Buffer.from('header.payload');

describe('checkedSignature', () => {
  it('takes ES256 as r‖s or DER, and gives r‖s', () => {
    const cert = certOf(ec.publicKey, 'ec-p256');
    const der = sign('sha256', data, ec.privateKey);
    const p1363 = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(checkedSignature(cert, 'ES256', data, p1363)).toEqual(p1363);
    const fromDer = checkedSignature(cert, 'ES256', data, der);
    expect(fromDer).toHaveLength(64);
  });

  it('refuses a signature of another key, or of other data', () => {
    const cert = certOf(rsa.publicKey, 'rsa');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(checkedSignature(cert, 'RS256', data, sign('sha256', data, other))).toBeUndefined();
    expect(
      checkedSignature(cert, 'RS256', data, sign('sha256', Buffer.from('x'), rsa.privateKey)),
    ).toBeUndefined();
    expect(
      checkedSignature(cert, 'RS256', data, sign('sha256', data, rsa.privateKey)),
    ).toBeDefined();
  });
});

describe('signatureProblem', () => {
  const pss = (key = rsa.privateKey) =>
    sign('sha256', data, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });

  it('takes a signature of the key size, whether or not it verifies (that is checkedSignature)', () => {
    const cert = certOf(rsa.publicKey, 'rsa');
    expect(signatureProblem(cert, 'PS256', pss())).toBeUndefined();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(signatureProblem(cert, 'PS256', pss(other))).toBeUndefined();
    expect(checkedSignature(cert, 'PS256', data, pss(other))).toBeUndefined();
  });

  it.each([
    ['nothing', () => new Uint8Array(0), /^returned 0 bytes, not a signature/],
    ['half a signature', () => pss().subarray(0, 128), /^returned 128 bytes, not a signature/],
    [
      'its base64 text',
      () => Buffer.from(pss().toString('base64')),
      /^returned 344 bytes of text \(base64 or hex\?\), not a signature/,
    ],
    ['its hex text', () => Buffer.from(pss().toString('hex')), /^returned 512 bytes of text/],
  ])('says what came back and what a PS256 signature is, for %s', (_, bytes, said) => {
    const problem = signatureProblem(certOf(rsa.publicKey, 'rsa'), 'PS256', bytes());
    expect(problem).toMatch(said);
    expect(problem).toContain(
      "a PS256 signature with the certificate's 2048-bit key is 256 bytes — return the signature's raw bytes",
    );
    expect(problem).not.toMatch(/rotated|not the certificate's/);
  });

  it("names the size of the certificate's key", () => {
    const big = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const signature = sign('sha256', data, rsa.privateKey);
    expect(signatureProblem(certOf(big.publicKey, 'rsa'), 'RS256', signature)).toContain(
      "an RS256 signature with the certificate's 3072-bit key is 384 bytes",
    );
  });

  it('takes ES256 as 64 bytes or DER, nothing else', () => {
    const cert = certOf(ec.publicKey, 'ec-p256');
    const der = sign('sha256', data, ec.privateKey);
    expect(signatureProblem(cert, 'ES256', der)).toBeUndefined();
    expect(signatureProblem(cert, 'ES256', Buffer.alloc(64))).toBeUndefined();
    expect(signatureProblem(cert, 'ES256', der.subarray(0, 40))).toMatch(
      /^returned 40 bytes, not a signature: an ES256 signature is 64 bytes \(r ‖ s\) or their DER encoding/,
    );
    expect(signatureProblem(cert, 'ES256', Buffer.from(der.toString('base64url')))).toMatch(
      /bytes of text/,
    );
  });
});

describe('algorithmProblem', () => {
  it('names the algorithm a key can sign with', () => {
    expect(algorithmProblem(certOf(rsa.publicKey, 'rsa'), 'PS256')).toBeUndefined();
    expect(algorithmProblem(certOf(rsa.publicKey, 'rsa'), 'ES256')).toMatch(
      /ES256 needs an EC P-256 key, and the certificate's key is rsa — set algorithm to PS256/,
    );
    expect(algorithmProblem(certOf(ec.publicKey, 'ec-p256'), 'PS256')).toMatch(
      /set algorithm to ES256/,
    );
  });
});

import { generateKeyPairSync, sign } from 'node:crypto';
import { algorithmProblem, checkedSignature, type SigningCertificate } from './signing-certificate';

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

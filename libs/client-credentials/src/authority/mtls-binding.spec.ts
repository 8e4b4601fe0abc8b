import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { AuthorityFailure } from '../errors/authority-failure';
import { ClientCertificate } from './client-certificate';
import { checkCertificateBinding, checkKeyBinding } from './token-response';

describe('a certificate-bound token answer', () => {
  const jwt = (payload: object) =>
    ['e30', Buffer.from(JSON.stringify(payload)).toString('base64url'), 'sig'].join('.');
  const kind = (f: () => void) => {
    try {
      f();
      return 'bound';
    } catch (e) {
      expect(e).toBeInstanceOf(AuthorityFailure);
      return (e as AuthorityFailure).kind;
    }
  };

  it('is bound when its JWT names the certificate presented, or an opaque one comes from an authority that binds', () => {
    expect(
      kind(() => checkCertificateBinding(jwt({ cnf: { 'x5t#S256': 'abc' } }), 'abc', false)),
    ).toBe('bound');
    expect(kind(() => checkCertificateBinding('opaque-token', 'abc', true))).toBe('bound');
  });

  it('is refused as unbound otherwise: another certificate, none named, an opaque token nobody vouches for', () => {
    expect(
      kind(() => checkCertificateBinding(jwt({ cnf: { 'x5t#S256': 'xyz' } }), 'abc', true)),
    ).toBe('unbound');
    expect(kind(() => checkCertificateBinding(jwt({ sub: 'x' }), 'abc', true))).toBe('unbound');
    expect(kind(() => checkCertificateBinding(jwt({ cnf: { jkt: 'abc' } }), 'abc', true))).toBe(
      'unbound',
    );
    expect(kind(() => checkCertificateBinding('opaque-token', 'abc', false))).toBe('unbound');
  });

  it('a DPoP token: a JWT must name the key of the proof (cnf.jkt); an opaque one cannot be read', () => {
    expect(kind(() => checkKeyBinding(jwt({ cnf: { jkt: 'k1' } }), 'k1'))).toBe('bound');
    expect(kind(() => checkKeyBinding('opaque-token', 'k1'))).toBe('bound');
    expect(kind(() => checkKeyBinding(jwt({ cnf: { jkt: 'k2' } }), 'k1'))).toBe('unbound');
    expect(kind(() => checkKeyBinding(jwt({ sub: 'x' }), 'k1'))).toBe('unbound');
    expect(kind(() => checkKeyBinding(jwt({ cnf: { 'x5t#S256': 'k1' } }), 'k1'))).toBe('unbound');
  });

  it('keeps the private key out of what a certificate shows', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certificate = new ClientCertificate(
      ['-----BEGIN CERTIFICATE-----'],
      privateKey,
      'abc',
      new Date(0),
    );
    expect(JSON.stringify(certificate)).toBe(
      '{"thumbprint":"abc","notAfter":"1970-01-01T00:00:00.000Z"}',
    );
    expect(inspect(certificate, { showHidden: true, depth: 5 })).not.toMatch(/PRIVATE|KeyObject/);
  });
});

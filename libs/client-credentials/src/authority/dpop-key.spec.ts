import { createHash, generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  jwtVerify,
  type JWK,
} from 'jose';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { resolveOptions } from '../options/resolve-options';
import { checkTokenResponse } from './token-response';
import { DpopKey } from './dpop-key';

const pem = (type: 'ec' | 'rsa', bits?: number) =>
  (type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: bits ?? 2048 })
  ).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('DpopKey', () => {
  it.each(['ES256', 'PS256', 'RS256'] as const)(
    'signs %s proofs that jose verifies with the embedded key, thumbprint as jose computes it',
    async (algorithm) => {
      const key = DpopKey.create({ algorithm });
      const proof = key.proof({
        method: 'post',
        url: 'https://as.example/token?client-request-id=1#x',
        accessToken: 'the-token',
        nonce: 'n-1',
      });
      const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [algorithm],
      });
      expect(payload).toMatchObject({
        htm: 'POST',
        htu: 'https://as.example/token',
        nonce: 'n-1',
        // base64url(SHA-256("the-token")), as RFC 9449 §4.2 computes `ath`.
        ath: createHash('sha256').update('the-token').digest('base64url'),
      });
      expect(typeof payload.jti).toBe('string');
      expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(2);
      expect(key.jkt).toBe(await calculateJwkThumbprint(protectedHeader.jwk as JWK));
      // The public key only.
      expect(Object.keys(protectedHeader.jwk!).sort()).toEqual(
        algorithm === 'ES256' ? ['crv', 'kty', 'x', 'y'] : ['e', 'kty', 'n'],
      );
    },
  );

  it('signs a new proof for every request, and leaves ath and nonce out when not given', () => {
    const key = DpopKey.create({ algorithm: 'ES256' });
    const a = key.proof({ method: 'GET', url: 'https://api.example/a' });
    const b = key.proof({ method: 'GET', url: 'https://api.example/a' });
    expect(a).not.toBe(b);
    const claims = JSON.parse(Buffer.from(a.split('.')[1], 'base64url').toString()) as object;
    expect(Object.keys(claims).sort()).toEqual(['htm', 'htu', 'iat', 'jti']);
  });

  it('takes a given key: the same thumbprint in every replica that has it', () => {
    const privateKey = pem('ec');
    const one = DpopKey.create({ algorithm: 'ES256', privateKey });
    const two = DpopKey.create({ algorithm: 'ES256', privateKey });
    expect(one.jkt).toBe(two.jkt);
    expect(decodeProtectedHeader(one.proof({ method: 'GET', url: 'https://x/' })).alg).toBe(
      'ES256',
    );
  });

  it.each([
    ['ES256', (): string => pem('rsa'), /ES256 needs an EC P-256 key/],
    ['PS256', (): string => pem('ec'), /PS256 needs an RSA key/],
    ['RS256', (): string => pem('rsa', 1024), /needs 2048 or more/],
    [
      'ES256',
      (): string => '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----',
      /cannot be read/,
    ],
  ] as const)('refuses a %s key that does not fit, naming the field', (algorithm, key, message) => {
    expect(() => DpopKey.create({ algorithm, privateKey: key() })).toThrow(message);
    expect(() => DpopKey.create({ algorithm, privateKey: key() })).toThrow(/^privateKey: /);
  });

  it('keeps the latest nonce per origin, ignoring values that are not nonces', () => {
    const key = DpopKey.create({ algorithm: 'ES256' });
    key.noteNonce('https://a', 'n1');
    key.noteNonce('https://a', 'n"2');
    key.noteNonce('https://a', '');
    key.noteNonce('https://b', 'm1');
    expect(key.nonceOf('https://a')).toBe('n1');
    expect(key.nonceOf('https://b')).toBe('m1');
  });

  it('shows its algorithm and thumbprint only', () => {
    const key = DpopKey.create({ algorithm: 'ES256', privateKey: pem('ec') });
    expect(JSON.stringify(key)).toBe(JSON.stringify({ algorithm: 'ES256', jkt: key.jkt }));
    expect(inspect(key, { showHidden: true, depth: 5 })).not.toMatch(/PRIVATE|"d"/);
  });
});

describe('DPoP options and answers', () => {
  const credential = (extra: object) => ({
    credentials: {
      a: {
        clientId: 'c',
        tenantId: '00000000-0000-0000-0000-000000000001',
        sources: [{ type: 'secret', secret: 's' }],
        ...extra,
      },
    },
  });

  it('validates dpop at start-up: oidc only, a known algorithm, PEM', () => {
    const problems = (extra: object) => {
      try {
        resolveOptions(credential(extra) as never);
        return [];
      } catch (e) {
        return (e as ConfigurationError).problems;
      }
    };
    expect(problems({ dpop: true })).toEqual([
      expect.stringMatching(/^credentials\.a\.dpop: needs protocol: 'oidc'/),
    ]);
    expect(problems({ protocol: 'oidc', dpop: { algorithm: 'HS256' } })).toEqual([
      expect.stringMatching(/^credentials\.a\.dpop/),
    ]);
    expect(problems({ protocol: 'oidc', dpop: { privateKey: '/etc/key.pem' } })).toEqual([
      expect.stringMatching(/^credentials\.a\.dpop.*PEM/),
    ]);
    const resolved = resolveOptions(credential({ protocol: 'oidc', dpop: true }) as never);
    expect(resolved.credentials.get('a')?.dpop).toEqual({ algorithm: 'ES256' });
  });

  it('refuses a bearer token answered to a DPoP request as unbound, and a DPoP one to a bearer request', () => {
    const answer = (type: string) => ({ access_token: 'x', token_type: type, expires_in: 60 });
    expect(() => checkTokenResponse(answer('DPoP'), {}, 'DPoP')).not.toThrow();
    expect(() => checkTokenResponse(answer('Bearer'), {}, 'DPoP')).toThrow(
      expect.objectContaining({ kind: 'unbound' }),
    );
    expect(() => checkTokenResponse(answer('DPoP'), {})).toThrow(
      expect.objectContaining({ kind: 'invalid_response' }),
    );
  });
});

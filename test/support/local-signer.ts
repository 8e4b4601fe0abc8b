import { constants, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { CertificateSigner, SignatureAlgorithm } from '@app/client-credentials';

/** A {@link CertificateSigner} over a key in this process, counting what it is asked. */
export interface LocalSigner extends CertificateSigner {
  /** Signatures made. */
  signatures: number;
  /** Algorithms it was asked for, in order. */
  algorithms: SignatureAlgorithm[];
  /** Replaces how it signs (slow, failing, another key), or restores its own with `undefined`. */
  behave(fn?: (data: Uint8Array, algorithm: SignatureAlgorithm) => Promise<Uint8Array>): void;
}

/**
 * The signer of a key held "elsewhere", as a test stands it in: node:crypto with a PEM key. The
 * library sees only getCertificate() and sign(), exactly as it sees an HSM or a signing service.
 */
export function localSigner(certificatePem: string, privateKeyPem: string): LocalSigner {
  let key: KeyObject | undefined;
  let override:
    ((data: Uint8Array, algorithm: SignatureAlgorithm) => Promise<Uint8Array>) | undefined;
  const signer: LocalSigner = {
    signatures: 0,
    algorithms: [],
    getCertificate: () => certificatePem,
    async sign(data, algorithm) {
      signer.algorithms.push(algorithm);
      if (override !== undefined) return override(data, algorithm);
      signer.signatures++;
      key ??= createPrivateKey(privateKeyPem);
      return signWith(key, data, algorithm);
    },
    behave(fn) {
      override = fn;
    },
  };
  return signer;
}

/** A JWS signature of `data` with `key`. */
export function signWith(key: KeyObject, data: Uint8Array, algorithm: SignatureAlgorithm): Buffer {
  if (algorithm === 'ES256') return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  if (algorithm === 'RS256') return sign('sha256', data, key);
  return sign('sha256', data, {
    key,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
  });
}

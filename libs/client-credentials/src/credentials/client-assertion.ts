import { randomUUID } from 'node:crypto';
import type { SignatureAlgorithm } from '../credential.options';

/** Lifetime of the assertions we sign; Entra accepts up to 10 minutes ahead. */
export const ASSERTION_LIFETIME_SECONDS = 600;

/** How an assertion names its certificate. */
export interface AssertionCertificate {
  /** base64url SHA-256 thumbprint: `x5t#S256`. */
  readonly thumbprintSha256: string;
  /** base64url SHA-1 thumbprint: `x5t`, sent with RS256 only. */
  readonly thumbprintSha1?: string;
  /** Base64 DER certificate and chain, for `x5c`. */
  readonly x5c: readonly string[];
}

/**
 * The signing input (`header.payload`) of a certificate's client assertion (RFC 7523, Entra's
 * "certificate credentials"): `x5t#S256` (and `x5t` with RS256, the form Entra documented for it),
 * `x5c` when asked; `iss` = `sub` = the client id, `aud` = the token endpoint, a fresh `jti`,
 * `iat` = `nbf` = now, `exp` 10 minutes on. The one builder of every certificate source: a PEM key,
 * an HSM, a key vault, a signer of the app.
 */
export function assertionInput(
  clientId: string,
  tokenEndpoint: string,
  cert: AssertionCertificate,
  algorithm: SignatureAlgorithm,
  sendX5c: boolean,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const header = {
    alg: algorithm,
    typ: 'JWT',
    ...(algorithm === 'RS256' && cert.thumbprintSha1 !== undefined
      ? { x5t: cert.thumbprintSha1 }
      : {}),
    'x5t#S256': cert.thumbprintSha256,
    ...(sendX5c ? { x5c: cert.x5c } : {}),
  };
  const claims = {
    jti: randomUUID(),
    iss: clientId,
    sub: clientId,
    aud: tokenEndpoint,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + ASSERTION_LIFETIME_SECONDS,
  };
  return `${base64url(header)}.${base64url(claims)}`;
}

/** The compact JWT of a signing input and its signature. */
export function compactAssertion(input: string, signature: Uint8Array): string {
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

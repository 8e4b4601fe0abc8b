import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { SignJWT } from 'jose';

/** How to build a client assertion by hand (tests of what msal would never send). */
export interface AssertionOptions {
  privateKeyPem: string;
  clientId: string;
  audience: string;
  /** SHA-256 thumbprint (uppercase hex) → PS256 + `x5t#S256`; otherwise SHA-1 → RS256 + `x5t`. */
  thumbprintSha256?: string;
  thumbprintSha1?: string;
  /** PEM chain (leaf first) to send as `x5c`. */
  chainPem?: string;
  issuer?: string;
  subject?: string;
  /** Seconds relative to now. */
  issuedAtOffset?: number;
  lifetimeSeconds?: number;
  jti?: string;
}

/** Splits concatenated PEM certificates into `x5c` entries (base64 DER). */
export function x5cOf(chainPem: string): string[] {
  const pems =
    chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return pems.map((pem) => Buffer.from(new X509Certificate(pem).raw).toString('base64'));
}

/** Signs a client assertion like msal-node does (aud = token endpoint, iss = sub = client id). */
export async function signClientAssertion(options: AssertionOptions): Promise<string> {
  const sha256 = options.thumbprintSha256;
  const header: Record<string, unknown> =
    sha256 !== undefined
      ? { alg: 'PS256', typ: 'JWT', 'x5t#S256': Buffer.from(sha256, 'hex').toString('base64url') }
      : {
          alg: 'RS256',
          typ: 'JWT',
          x5t: Buffer.from(options.thumbprintSha1 ?? '', 'hex').toString('base64url'),
        };
  if (options.chainPem !== undefined) header.x5c = x5cOf(options.chainPem);
  const iat = Math.floor(Date.now() / 1000) + (options.issuedAtOffset ?? 0);
  return new SignJWT({})
    .setProtectedHeader(header as { alg: string })
    .setIssuer(options.issuer ?? options.clientId)
    .setSubject(options.subject ?? options.clientId)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + (options.lifetimeSeconds ?? 600))
    .setJti(options.jti ?? randomUUID())
    .sign(createPrivateKey(options.privateKeyPem));
}

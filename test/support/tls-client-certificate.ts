import { createHash, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** The client certificate a TLS connection presented (Node checked its chain when asked to). */
export function peerCertificate(socket: unknown): X509Certificate | undefined {
  return (socket as Partial<TLSSocket>).getPeerX509Certificate?.() ?? undefined;
}

/** A certificate's RFC 8705 thumbprint (`x5t#S256`): base64url of the SHA-256 of its DER. */
export function certificateThumbprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}

/**
 * oidc-provider's `features.mTLS`, the client certificate read from the TLS socket of the request:
 * certificate-bound tokens, `tls_client_auth` (the chain checked by Node against the listener's
 * `ca`, the subject DN compared) and `self_signed_tls_client_auth` (oidc-provider matches the
 * thumbprint against the client's registered `jwks`).
 */
export function oidcProviderMtls(enabled: boolean) {
  type Ctx = { socket: unknown };
  return {
    enabled,
    certificateBoundAccessTokens: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate: (ctx: Ctx) => peerCertificate(ctx.socket)?.toString(),
    certificateAuthorized: (ctx: Ctx) => (ctx.socket as Partial<TLSSocket>).authorized === true,
    certificateSubjectMatches: (ctx: Ctx, property: string, expected: string) =>
      property === 'tls_client_auth_subject_dn' &&
      peerCertificate(ctx.socket)?.subject.replace(/\n/g, ', ') === expected,
  };
}

import { createHash, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { sameSubject } from './assertion-key';
import type { AppRecord } from './directory';
import { EntraError } from './errors';
import type { RequestContext } from './http';

/*
 * Entra ID's mTLS proof of possession (a preview of Entra's; MSAL .NET `WithMtlsProofOfPossession`),
 * as this authority emulates it on its second listener — the `mtlsauth.microsoft.com` of the real
 * service. That listener asks every client for a certificate and lets Node's TLS check its chain
 * against the SN+I root (`requestCert`, `ca`): what is read here is Node's verdict, unmodified.
 * The certificate of the handshake authenticates the app — a subject name + issuer certificate,
 * its subject registered on the app — and `token_type=mtls_pop` binds the token to it.
 */

/** What a token request on the mTLS listener proved. */
export interface MtlsClient {
  /** The certificate's `x5t#S256` (base64url SHA-256 of its DER): the token's `cnf`. */
  readonly thumbprint: string;
  /** `token_type=mtls_pop` was asked for: the token is bound to the certificate. */
  readonly bound: boolean;
}

/** The certificate a connection presented, and whether Node's TLS verified its chain. */
export function presentedCertificate(
  ctx: RequestContext,
): { certificate: X509Certificate; authorized: boolean } | undefined {
  const socket = ctx.req.socket as Partial<TLSSocket>;
  const certificate = socket.getPeerX509Certificate?.();
  return certificate === undefined
    ? undefined
    : { certificate, authorized: socket.authorized === true };
}

/** A certificate's `x5t#S256`. */
export function thumbprintOf(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}

/**
 * Authenticates a token request of the mTLS listener by the certificate of its TLS handshake.
 * Checks, in order: no other client credential in the body (MSAL .NET sends none: the handshake
 * authenticates), a certificate presented, its chain verified by Node to the SN+I root, its
 * subject registered on the app, the `token_type` (`mtls_pop`, or none for a bearer token).
 * @throws EntraError
 */
export function authenticateByCertificate(
  ctx: RequestContext,
  app: AppRecord,
  form: URLSearchParams,
): MtlsClient {
  ctx.log.credentialKind = 'mtls-certificate';
  if (form.has('client_assertion') || form.has('client_secret')) {
    throw new EntraError(
      9002313,
      'Invalid request. Request is malformed or invalid. The mTLS endpoint authenticates the client with the certificate of the TLS handshake: the request must not contain client_assertion or client_secret.',
    );
  }
  const presented = presentedCertificate(ctx);
  if (presented === undefined) {
    throw new EntraError(
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. No client certificate was presented in the TLS handshake.",
    );
  }
  const { certificate, authorized } = presented;
  if (!authorized) {
    throw new EntraError(
      50012,
      'Authentication failed. The certificate chain is not valid: the TLS client certificate does not chain to a trusted root. A matching trusted authority policy was not found for the authorized subject name.',
    );
  }
  if (!app.sniSubjects.some((s) => sameSubject(s, certificate.subject))) {
    throw new EntraError(
      700030,
      `Invalid certificate - subject name in certificate is not authorized. SubjectNames/SubjectAlternativeNames (up to 10) in token certificate are: ${certificate.subject.replace(/\n/g, ', ')}`,
    );
  }
  const tokenType = form.get('token_type');
  if (tokenType !== null && tokenType !== 'mtls_pop') {
    throw new EntraError(
      9002313,
      `Invalid request. Request is malformed or invalid. Unsupported token_type '${tokenType.slice(0, 40)}'.`,
    );
  }
  return { thumbprint: thumbprintOf(certificate), bound: tokenType === 'mtls_pop' };
}

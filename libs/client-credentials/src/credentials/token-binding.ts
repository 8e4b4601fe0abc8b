import type { AccessToken } from '../access-token';
import type {
  BoundCertificate,
  ProofRequest,
  RequestHeaders,
  TokenBinding,
} from '../client-credentials.options';
import { accessTokenHash } from '../authority/dpop-key';
import { InvalidRequestError } from '../errors/client-credentials.errors';
import type { Credential } from './credential';

/** The credentials by name (the registry): a token names the credential that obtained it. */
interface Credentials {
  find(name: string): Credential | undefined;
}

/** How a credential's tokens are sent: as they are, bound to its DPoP key, or to its certificate. */
export function bindingOf(credential: Credential): TokenBinding {
  return credential.dpop !== undefined
    ? 'dpop'
    : credential.options.mtls !== undefined
      ? 'mtls'
      : 'bearer';
}

/** A bound token asked for where it would go without its proof or its certificate. */
export function proofRequired(
  credential: string,
  binding: TokenBinding,
  where: string,
): InvalidRequestError {
  return new InvalidRequestError(
    'proof_required',
    binding === 'mtls'
      ? `Credential '${credential}' gets tokens bound to its certificate: ${where} cannot send one over a connection presenting it.`
      : `Credential '${credential}' gets DPoP-bound tokens: ${where} cannot send one without a proof of its key per request.`,
    { credential },
  );
}

/**
 * The headers that send `token` with one request; a DPoP-bound token gets a proof signed with the
 * key of the credential that obtained it.
 * @throws InvalidRequestError `proof_required` for a DPoP token whose credential has no key here
 */
export function requestHeadersOf(
  token: AccessToken,
  request: ProofRequest,
  credentials: Credentials,
): RequestHeaders {
  const authorization = `${token.tokenType} ${token.token}`;
  if (token.tokenType !== 'DPoP') return { authorization };
  const key = credentials.find(token.credential)?.dpop;
  if (key === undefined) throw proofRequired(token.credential, 'dpop', 'requestHeaders()');
  return {
    authorization,
    dpop: key.proof({
      method: request.method,
      url: request.url,
      accessTokenHash: hashOf(token),
      nonce: request.nonce,
    }),
  };
}

/**
 * The `ath` of each token object sent: a cache hit answers with the same object every time, so a
 * token is hashed once, not once per request. Weak: an entry goes when its token does, and no
 * token is held here.
 */
const hashes = new WeakMap<AccessToken, string>();

function hashOf(token: AccessToken): string {
  let hash = hashes.get(token);
  if (hash === undefined) {
    hash = accessTokenHash(token.token);
    hashes.set(token, hash);
  }
  return hash;
}

/**
 * The certificate `token` is bound to, held by the credential that obtained it; undefined for a
 * token bound to no certificate.
 * @throws InvalidRequestError `proof_required` when the certificate is no longer held (its
 * credential is gone, or several rotations have passed since the token was issued)
 */
export function boundCertificateOf(
  token: AccessToken,
  credentials: Credentials,
): BoundCertificate | undefined {
  const thumbprint = token.certificateThumbprint;
  if (thumbprint === undefined) return undefined;
  const certificate = credentials.find(token.credential)?.boundCertificate(thumbprint);
  if (certificate === undefined) {
    throw new InvalidRequestError(
      'proof_required',
      `The certificate ${thumbprint} that credential '${token.credential}' bound this token to is no longer held: the token cannot be sent without it.`,
      { credential: token.credential },
    );
  }
  return certificate;
}

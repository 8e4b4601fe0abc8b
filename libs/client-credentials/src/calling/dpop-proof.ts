import type { AccessToken } from '../access-token';
import type { TokenService } from '../token.service';
import { parseBearerChallenge } from './challenge';

/**
 * The latest `DPoP-Nonce` of one API (RFC 9449 §9): shared by every request to it, so that one
 * nonce rotation costs each request in flight at most one re-send, and the requests after none.
 */
export interface ApiNonce {
  value?: string;
}

/**
 * The `Authorization` header (and for a DPoP-bound token the `DPoP` proof of this very request:
 * method, URL, the token's hash, the API's nonce) of a request that carries `token`.
 */
export function authorizationOf(
  tokens: TokenService,
  token: AccessToken,
  method: string,
  url: URL | string,
  nonce: ApiNonce,
): { authorization: string; dpop?: string } {
  if (token.tokenType !== 'DPoP') return { authorization: `${token.tokenType} ${token.token}` };
  return tokens.requestHeaders(token, { method, url, nonce: nonce.value });
}

/**
 * Notes the nonce an answer of the API carries (any status: a server may rotate it with a 200),
 * and tells whether the answer is a `401` asking for a new one (`WWW-Authenticate: DPoP
 * error="use_dpop_nonce"`) that the request did not have — then one re-send with it can succeed.
 */
export function nonceAnswer(
  token: AccessToken,
  status: number,
  header: (name: string) => string | null | undefined,
  nonce: ApiNonce,
  sentWith: string | undefined,
): boolean {
  if (token.tokenType !== 'DPoP') return false;
  const given = header('dpop-nonce') ?? undefined;
  // RFC 9449 §8.1: NQCHAR only; anything else is not a nonce to sign.
  if (given !== undefined && /^[\x21\x23-\x5B\x5D-\x7E]{1,1024}$/.test(given)) nonce.value = given;
  if (status !== 401 || nonce.value === undefined || nonce.value === sentWith) return false;
  return parseBearerChallenge(header('www-authenticate'), 'DPoP')?.error === 'use_dpop_nonce';
}

import { jwtClaims } from '../authority/jwt-claims';

/** The longest token read for its tenant: an Entra access token is a few KB. */
const MAX_TOKEN_LENGTH = 64 * 1024;

/** A GUID's shape, as Entra writes tenant and object ids. */
const GUID = /^[0-9a-f-]{36}$/i;

/** A JWT's claims (see {@link jwtClaims}), for a token no longer than an Entra token can be. */
function claimsOf(token: string): Record<string, unknown> | undefined {
  return token.length > MAX_TOKEN_LENGTH ? undefined : jwtClaims(token);
}

/** A claim's value, lower case, when it has a GUID's shape. */
function guid(value: unknown): string | undefined {
  return typeof value === 'string' && GUID.test(value) ? value.toLowerCase() : undefined;
}

/** The tenant an Entra access token was issued in (its `tid` claim), lower case. */
export function tenantOfToken(token: string): string | undefined {
  return guid(claimsOf(token)?.tid);
}

/**
 * Whom an Entra access token was issued to (`oid`: the service principal's object id) and in
 * which tenant (`tid`), lower case; each undefined when the token does not say.
 */
export function principalOfToken(token: string): { oid?: string; tid?: string } {
  const claims = claimsOf(token);
  return { oid: guid(claims?.oid), tid: guid(claims?.tid) };
}

/**
 * When a JWT access token expires by its issuer (`exp`, epoch ms); undefined for a token that is
 * not a JWT or names no expiry: it bounds what a store says of a token (a replica's clock may be
 * wrong), never trusts it further.
 */
export function expiryOfToken(token: string): number | undefined {
  const exp = claimsOf(token)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
}

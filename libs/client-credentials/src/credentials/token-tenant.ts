/** The longest token read for its tenant: an Entra access token is a few KB. */
const MAX_TOKEN_LENGTH = 64 * 1024;

/** A GUID's shape, as Entra writes tenant and object ids. */
const GUID = /^[0-9a-f-]{36}$/i;

/**
 * The claim `name` of a JWT, lower case, when it has a GUID's shape; undefined when it has none or is not a
 * JWT. Read without verifying the signature: the token came from the identity's own endpoint over
 * TLS, and only says who that identity is and which tenant it lives in.
 */
function guidClaim(token: string, name: 'tid' | 'oid'): string | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    const value = (claims as Record<string, unknown> | null)?.[name];
    return typeof value === 'string' && GUID.test(value) ? value.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** The tenant an Entra access token was issued in (its `tid` claim), lower case. */
export function tenantOfToken(token: string): string | undefined {
  return guidClaim(token, 'tid');
}

/** The object id of the service principal an Entra access token was issued to (`oid`), lower case. */
export function objectIdOfToken(token: string): string | undefined {
  return guidClaim(token, 'oid');
}

/**
 * When a JWT access token expires by its issuer (`exp`, epoch ms); undefined for a token that is
 * not a JWT or names no expiry. Read without verifying the signature, to bound what a store says
 * of a token (a replica's clock may be wrong), never to trust it further.
 */
export function expiryOfToken(token: string): number | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    const exp = (claims as Record<string, unknown> | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

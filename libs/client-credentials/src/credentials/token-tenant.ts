/** The longest token read for its tenant: an Entra access token is a few KB. */
const MAX_TOKEN_LENGTH = 64 * 1024;

/**
 * The tenant an Entra access token was issued in (its `tid` claim), lower case; undefined when it
 * has none or is not a JWT. Read without verifying the signature: the token came from the
 * identity's own endpoint over TLS, and only says which tenant that identity lives in.
 */
export function tenantOfToken(token: string): string | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    const tid = (claims as { tid?: unknown } | null)?.tid;
    return typeof tid === 'string' && /^[0-9a-f-]{36}$/i.test(tid) ? tid.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

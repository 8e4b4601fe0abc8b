/**
 * The claims of a JWT (a JWS in compact form: three parts), read without verifying its signature;
 * undefined for a token that is not one (opaque). For what the library only reads from a token an
 * authority sent it over TLS: whom it names, what it is bound to, when it expires — never to trust
 * a token it did not get that way.
 */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null
      ? (claims as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

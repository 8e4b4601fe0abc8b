import { createHash } from 'node:crypto';
import { InvalidRequestError } from '../errors/client-credentials.errors';

/** The longest claims request accepted (a CAE challenge's is about a hundred bytes). */
const MAX_CLAIMS_LENGTH = 16 * 1024;

/**
 * A short, stable id of a claims request for cache keys and lock names (the claims themselves can
 * be long; they carry no secret, but keys stay short).
 * @throws InvalidRequestError `claims_invalid` when `claims` is not a JSON object
 */
export function claimsId(claims: string): string {
  let parsed: unknown;
  try {
    parsed =
      typeof claims === 'string' && claims.length <= MAX_CLAIMS_LENGTH
        ? JSON.parse(claims)
        : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidRequestError(
      'claims_invalid',
      `The claims request is not a JSON object of at most ${MAX_CLAIMS_LENGTH} characters.`,
    );
  }
  return createHash('sha256').update(claims).digest('base64url').slice(0, 22);
}

/**
 * The revocation a continuous access evaluation claims challenge names, as a wall-clock time
 * (epoch ms): its `access_token.nbf` essential value (epoch seconds) — tokens issued before it are
 * refused, a token issued after it satisfies the challenge. Undefined for other claims, or claims
 * that are not valid JSON.
 */
export function revokedBefore(claims: string | undefined): number | undefined {
  if (claims === undefined || claims.length > MAX_CLAIMS_LENGTH) return undefined;
  try {
    const value = (JSON.parse(claims) as { access_token?: { nbf?: { value?: unknown } } } | null)
      ?.access_token?.nbf?.value;
    const seconds = typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : value;
    return typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds > 0
      ? seconds * 1000
      : undefined;
  } catch {
    return undefined;
  }
}

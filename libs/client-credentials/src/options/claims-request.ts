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

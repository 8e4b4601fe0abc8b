import type { JWTPayload } from 'jose';
import { EntraError } from './errors';

/**
 * How a resource tells a client that its token was revoked:
 * - `insufficient_claims`: a continuous access evaluation (CAE) claims challenge, sent to tokens
 *   of clients that declared the `cp1` capability (the token's `xms_cc`), plain 401 to the others;
 * - `invalid_token`: a plain 401 to everyone (a resource without CAE).
 */
export type RevocationChallenge = 'insufficient_claims' | 'invalid_token';

/** A revocation of an app's tokens (or a managed identity's, by its client id). */
interface Revocation {
  /** Tokens issued before this (epoch seconds) are refused. */
  readonly before: number;
  readonly challenge: RevocationChallenge;
}

/** What a token request's `claims` parameter asked for (Entra's claims request parameter). */
export interface ClaimsRequest {
  /** `access_token.nbf` essential value: the token must not be valid before this (epoch s). */
  readonly notBefore?: number;
  /** `access_token.xms_cc.values`: the client capabilities, `cp1` for CAE. */
  readonly capabilities: readonly string[];
}

/**
 * Revoked tokens, as Entra learns of them from critical events (a disabled app, a credential
 * reset, an admin's "revoke sessions") and tells CAE-aware resources. Time is kept in whole
 * seconds like `iat`: a revocation refuses tokens issued before the next whole second, and tokens
 * issued for the app from then on carry an `iat`/`nbf` no earlier than it (at most 1 s ahead), so a
 * token issued after the revocation is never refused by it.
 */
export class Revocations {
  private readonly byPrincipal = new Map<string, Revocation>();

  /** Revokes the tokens of `clientId` in `tenantId` issued before now; returns that instant (s). */
  revoke(
    tenantId: string,
    clientId: string,
    now: Date,
    challenge: RevocationChallenge = 'insufficient_claims',
  ): number {
    const before = Math.ceil(now.getTime() / 1000);
    this.byPrincipal.set(key(tenantId, clientId), { before, challenge });
    return before;
  }

  /** The earliest `iat`/`nbf` of a token issued now for the principal (epoch s). */
  issuedAt(tenantId: string, clientId: string, now: Date, claims?: ClaimsRequest): number {
    const revocation = this.byPrincipal.get(key(tenantId, clientId));
    return Math.max(
      Math.floor(now.getTime() / 1000),
      revocation?.before ?? 0,
      // Honoured up to a second ahead, as for a revocation: a claim further out is not ours.
      Math.min(claims?.notBefore ?? 0, Math.floor(now.getTime() / 1000) + 1),
    );
  }

  /**
   * The 401 `WWW-Authenticate` value for a revoked token, or undefined when it is not revoked.
   * Shapes per Microsoft's "Claims challenges, claims requests and client capabilities" and
   * "Continuous access evaluation" references.
   */
  challenge(claims: JWTPayload): string | undefined {
    const tid = typeof claims.tid === 'string' ? claims.tid : '';
    const client = typeof claims.azp === 'string' ? claims.azp : claims.appid;
    const revocation = this.byPrincipal.get(key(tid, typeof client === 'string' ? client : ''));
    if (revocation === undefined || (claims.iat ?? 0) >= revocation.before) return undefined;
    const capabilities = Array.isArray(claims.xms_cc) ? (claims.xms_cc as unknown[]) : [];
    if (revocation.challenge === 'insufficient_claims' && capabilities.includes('cp1')) {
      const request = { access_token: { nbf: { essential: true, value: `${revocation.before}` } } };
      const encoded = Buffer.from(JSON.stringify(request)).toString('base64');
      return (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", ' +
        `error="insufficient_claims", error_description="The token was revoked: a token issued after ${revocation.before} is required", claims="${encoded}"`
      );
    }
    return 'Bearer error="invalid_token", error_description="The token was revoked"';
  }
}

function key(tenantId: string, clientId: string): string {
  return `${tenantId.toLowerCase()}|${clientId.toLowerCase()}`;
}

/**
 * Parses the `claims` parameter of a token request: a JSON object, e.g.
 * `{"access_token":{"xms_cc":{"values":["cp1"]},"nbf":{"essential":true,"value":"1700000000"}}}`
 * (msal merges the client capabilities and a claims challenge into one). Anything that is not a
 * JSON object is answered as Entra answers a malformed request.
 */
export function parseClaimsRequest(claims: string | null): ClaimsRequest | undefined {
  if (claims === null || claims === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new EntraError(
      9002313,
      "Invalid request. Request is malformed or invalid: the 'claims' parameter is not a JSON object.",
    );
  }
  const access = (parsed as { access_token?: Record<string, unknown> }).access_token ?? {};
  const nbf = access.nbf as { value?: unknown } | undefined;
  const cc = access.xms_cc as { values?: unknown } | undefined;
  const notBefore = Number(nbf?.value);
  return {
    notBefore: Number.isFinite(notBefore) ? notBefore : undefined,
    capabilities: Array.isArray(cc?.values)
      ? cc.values.filter((v): v is string => typeof v === 'string')
      : [],
  };
}

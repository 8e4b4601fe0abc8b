import { compactVerify, decodeJwt, type JWTPayload } from 'jose';
import type { CryptoKey } from './crypto-types';
import type { Reply, RequestContext } from './http';
import type { Revocations } from './revocation';
import type { TokenIssuer } from './token-issuer';

/** Role the demo API requires. */
export const REQUIRED_ROLE = 'Data.Read';

/** What the demo API accepts. */
export interface ProtectedApiDeps {
  issuer: TokenIssuer;
  /** Audiences of the demo API: its application id and App ID URI. */
  audiences: string[];
  isTenant(tenantId: string): boolean;
  /** Revoked tokens are answered with a claims challenge (CAE) or a plain 401. */
  revocations: Revocations;
}

function unauthorized(description: string): Reply {
  return {
    status: 401,
    headers: {
      'www-authenticate': `Bearer error="invalid_token", error_description="${description}"`,
    },
    json: { ok: false, error: 'invalid_token', error_description: description },
  };
}

/** Most tokens seen again before a cache is emptied (a token is ~1 KB). */
const MAX_VERIFIED = 4096;
/** Tokens whose signature passed, with their claims, per signing key (a new key starts afresh). */
const verifiedByKey = new WeakMap<CryptoKey, Map<string, JWTPayload>>();

/**
 * The claims of a token signed by `key`, or undefined. A token's signature is checked once: the
 * same string always has the same answer, and an RSA verification per call was most of the CPU of
 * a 1,000-call burst in the tests. Lifetime, audience and revocation are still checked per call.
 */
export async function verifiedClaims(
  token: string,
  key: CryptoKey,
): Promise<JWTPayload | undefined> {
  let verified = verifiedByKey.get(key);
  if (verified === undefined) {
    verified = new Map<string, JWTPayload>();
    verifiedByKey.set(key, verified);
  }
  const known = verified.get(token);
  if (known !== undefined) return known;
  try {
    await compactVerify(token, key, { algorithms: ['RS256'] });
  } catch {
    return undefined;
  }
  if (verified.size >= MAX_VERIFIED) verified.clear();
  const claims = decodeJwt(token);
  verified.set(token, claims);
  return claims;
}

/**
 * `GET /api/data`: a resource server that validates the bearer token like Microsoft.Identity.Web
 * would: signature against the authority's key, `iss` of one of its tenants, `aud`, `exp`/`nbf`, and
 * the `Data.Read` app role.
 */
export async function handleApiData(ctx: RequestContext, deps: ProtectedApiDeps): Promise<Reply> {
  const auth = ctx.req.headers.authorization;
  const match = auth === undefined ? null : /^Bearer\s+(\S+)$/i.exec(auth);
  if (match === null) {
    return {
      status: 401,
      headers: { 'www-authenticate': 'Bearer' },
      json: { ok: false, error: 'invalid_token', error_description: 'no bearer token' },
    };
  }
  const claims = await verifiedClaims(match[1], deps.issuer.publicKey);
  if (claims === undefined) return unauthorized('the token signature is invalid');
  const tid = typeof claims.tid === 'string' ? claims.tid : '';
  ctx.log.tenantId = tid || undefined;
  ctx.log.clientId = typeof claims.azp === 'string' ? claims.azp : undefined;
  if (!deps.isTenant(tid) || claims.iss !== deps.issuer.issuer(tid)) {
    return unauthorized('the token issuer is not trusted');
  }
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.some((a) => a !== undefined && deps.audiences.includes(a))) {
    return unauthorized('the token audience is not this API');
  }
  // No clock skew allowance (Microsoft.Identity.Web allows 5 min): tests with short lifetimes
  // should see an expired token refused at once.
  const now = ctx.now().getTime() / 1000;
  if (claims.exp === undefined || claims.exp <= now || (claims.nbf ?? 0) > now + 1) {
    return unauthorized('the token is expired');
  }
  // After the token's own checks, as a CAE-aware resource does: a revoked but otherwise valid token.
  const challenge = deps.revocations.challenge(claims);
  if (challenge !== undefined) {
    const caeChallenge = challenge.includes('insufficient_claims');
    return {
      status: 401,
      headers: { 'www-authenticate': challenge },
      json: {
        ok: false,
        error: caeChallenge ? 'insufficient_claims' : 'invalid_token',
        error_description: 'the token was revoked',
      },
    };
  }
  const roles = Array.isArray(claims.roles) ? (claims.roles as string[]) : [];
  // A delegated token (an agent user's) carries the permission as a scope, not a role.
  const scopes = typeof claims.scp === 'string' ? claims.scp.split(' ') : [];
  if (!roles.includes(REQUIRED_ROLE) && !scopes.includes(REQUIRED_ROLE)) {
    return {
      status: 403,
      headers: {
        'www-authenticate': `Bearer error="insufficient_scope", error_description="role ${REQUIRED_ROLE} required"`,
      },
      json: { ok: false, error: 'insufficient_scope', required_role: REQUIRED_ROLE },
    };
  }
  return {
    status: 200,
    json: {
      ok: true,
      appid: claims.appid ?? claims.azp,
      tid,
      roles,
      // Who called, as an API reads it: the caller's object id, whether an app or a user, and
      // for an agent identity (Entra Agent ID) the blueprint it acts for.
      oid: claims.oid,
      idtyp: claims.idtyp,
      ...(scopes.length > 0 ? { scp: claims.scp } : {}),
      ...(typeof claims.xms_par_app_azp === 'string' ? { parentApp: claims.xms_par_app_azp } : {}),
      data: ['alpha', 'beta'],
    },
  };
}

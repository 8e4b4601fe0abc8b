import type { AccessToken } from '../access-token';
import type { TokenService } from '../token.service';

/** The parameters of a `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3, RFC 9470 claims). */
export interface BearerChallenge {
  /** `invalid_token`, `insufficient_claims`, `insufficient_scope`, … (absent when none was sent). */
  readonly error?: string;
  readonly errorDescription?: string;
  /** `claims` decoded from base64: a JSON claims request (continuous access evaluation). */
  readonly claims?: string;
}

/** Which token a call uses: scopes, credential, tenant, and the agent (or agent user) it is for. */
export interface TokenTarget {
  /** The API's scope, e.g. `api://orders/.default`. */
  readonly scopes: string | readonly string[];
  /** Credential name. @default the default credential */
  readonly credential?: string;
  /** Tenant of the tokens. @default the credential's tenant */
  readonly tenantId?: string;
  /**
   * An agent identity of the credential, an agent identity blueprint (its app id or configured
   * name): the calls carry the agent's own tokens. See docs/agents.md.
   * @default none: the credential's own tokens
   */
  readonly agent?: string;
  /**
   * The agent user of `agent` (its UPN or object ID): the calls carry that user's delegated
   * tokens, and `scopes` are delegated scopes. Needs `agent`. See docs/agents.md.
   * @default none: the agent's own tokens
   */
  readonly agentUser?: string;
}

/**
 * The token service's options for `target` — its credential, tenant, agent and agent user — with
 * `extra` (a signal, claims): built here for every call an integration makes about a target's
 * tokens (get, replace, forget), so that none can leave one out — a forget without the agent
 * withdrew the credential's own token, not the agent's refused one, and a target without its
 * agent user got the agent's app-only token instead of the user's.
 */
export function targetOptions<T extends object>(
  target: TokenTarget,
  extra: T,
): { credential?: string; tenantId?: string; agent?: string; agentUser?: string } & T {
  return {
    credential: target.credential,
    tenantId: target.tenantId,
    agent: target.agent,
    agentUser: target.agentUser,
    ...extra,
  };
}

/**
 * The Bearer challenge of a `WWW-Authenticate` header (or headers), undefined without one. Other
 * schemes in the same header are skipped; quoted values may hold commas and escaped quotes.
 * `scheme`: the challenge of another scheme with the same parameters — `DPoP` (RFC 9449 §7.1),
 * whose `error` is `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce`.
 */
export function parseBearerChallenge(
  header: string | readonly string[] | null | undefined,
  scheme: 'Bearer' | 'DPoP' = 'Bearer',
): BearerChallenge | undefined {
  const text = Array.isArray(header) ? header.join(', ') : (header as string | null | undefined);
  if (!text) return undefined;
  const bearer = (scheme === 'Bearer' ? BEARER : DPOP).exec(text);
  if (bearer === null) return undefined;
  const params: Record<string, string> = {};
  const param = /\s*([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
  param.lastIndex = bearer.index + bearer[0].length;
  for (let m = param.exec(text); m !== null; m = param.exec(text)) {
    // The next scheme starts: `…, Basic realm="x"` has a token with no `=` before it.
    params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return {
    error: params.error,
    errorDescription: params.error_description,
    claims: decodeClaims(params.claims),
  };
}

const BEARER = /(?:^|,)\s*Bearer(?:\s+|$)/i;
const DPOP = /(?:^|,)\s*DPoP(?:\s+|$)/i;

/** A challenge's `claims`: base64 (standard or url-safe) of a JSON object, else undefined. */
function decodeClaims(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const text = Buffer.from(value, 'base64').toString('utf8');
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? text
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The token to re-send a request with after the API answered 401, or undefined when no new
 * token can help (the caller then gets the 401):
 * - `insufficient_claims` with `claims` (a CAE claims challenge): a token requested with those
 *   claims, and the refused token is no longer served to anyone — unless the refused token was
 *   itself obtained after a refusal moments ago (the hold-off of `forgetRefusedToken`);
 * - `invalid_token`: a replacement of the refused token (revoked, say) — one token request for all
 *   the callers that were refused it, in every replica sharing the cache.
 */
export async function tokenAfterChallenge(
  tokens: TokenService,
  target: TokenTarget,
  refused: AccessToken,
  challenge: BearerChallenge | undefined,
  signal?: AbortSignal,
): Promise<AccessToken | undefined> {
  const options = targetOptions(target, { signal });
  if (challenge?.error === 'insufficient_claims' && challenge.claims !== undefined) {
    // One hold-off for every kind of refusal: an API that challenges every token (with claims
    // that differ each time, say) gets no new one while the last was obtained after a refusal.
    const forgotten = tokens.forgetRefusedToken(target.scopes, refused.token, {
      ...options,
      claims: challenge.claims,
    });
    if (!forgotten) return undefined;
    return tokens.getAccessTokenWithClaims(target.scopes, challenge.claims, options);
  }
  if (challenge?.error === 'invalid_token') {
    return tokens.replaceRefusedToken(target.scopes, refused.token, options);
  }
  return undefined;
}

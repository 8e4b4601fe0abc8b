import type { AgentLeg } from '../../observability/token-metrics';

/**
 * AADSTS numbers of a `user_fic` refusal about the user or the request, not about the agent's own
 * token for the token exchange scope (T2) it carries: 50034 no such user, 65001 no consent, 70011
 * the scopes, 50000 an agent user not linked to the agent.
 */
export const USER_OR_REQUEST_AADSTS: ReadonlySet<number> = new Set([50034, 65001, 70011, 50000]);

/**
 * AADSTS numbers of a refusal of the scopes an agent's token (or its agent user's) was asked for:
 * 70011 an invalid scope, 500011 no such resource in the tenant, 65001 no consent for it.
 */
const SCOPE_AADSTS: ReadonlySet<number> = new Set([70011, 500011, 65001]);

/**
 * Whether a failure of an agent's request is a refusal of what its caller asked — the scopes, the
 * agent user — rather than of the agent: recorded under that request only, so that a caller's bad
 * scope or unknown user never marks the agent (nor its blueprint) failing. The agent's own
 * failures — its token exchange token (leg 1) refused, the agent deleted or unknown (700016),
 * its assertion refused, an outage — are not.
 */
export function refusesTheRequest(leg: AgentLeg, error: unknown): boolean {
  const { aadsts, transient, oauthError } = error as {
    aadsts?: unknown;
    transient?: unknown;
    oauthError?: unknown;
  };
  if (transient === true || (leg !== 'agent' && leg !== 'agent_user')) return false;
  const scope =
    oauthError === 'invalid_scope' || (typeof aadsts === 'number' && SCOPE_AADSTS.has(aadsts));
  return scope || (leg === 'agent_user' && USER_OR_REQUEST_AADSTS.has(aadsts as number));
}

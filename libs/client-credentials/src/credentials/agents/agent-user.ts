import { randomUUID } from 'node:crypto';
import type { AgentUserName } from '../../authority/token-client';
import { AuthorityFailure } from '../../errors/authority-failure';
import { InvalidRequestError } from '../../errors/client-credentials.errors';
import { scopeKey } from '../../options/request-validation';
import type { AgentLegOf, Fetched, Principal } from '../principal';
import type { TokenRequest } from '../token-request';
import type { AgentIdentity } from './agent-identity';
import { USER_OR_REQUEST_AADSTS } from './agent-refusals';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A user principal name: `local@domain`, nothing a form parameter would need to escape oddly. */
const UPN = /^[^\s@]{1,113}@[A-Za-z0-9.-]{1,255}$/;

/**
 * Whether a `user_fic` failure may be a refusal of T2, which is then forgotten (the next attempt
 * gets a new one): any refusal but those known to be about the user or the request (T2 stays
 * cached for the agent's other users then). Entra's codes
 * for a refused user federated credential are not documented (50013, 50027, 500133 by its general
 * reference; a federated credential's 700024 or 7002xx by its pipeline's), and the costs are not
 * alike: a T2 forgotten wrongly costs one request of the agent's token; a bad one kept — shared
 * through Redis — fails every user of the agent until it is refreshed. An outage (transient)
 * refuses nothing.
 */
export function mayRefuseT2(error: unknown): boolean {
  const { aadsts, transient } = error as { aadsts?: unknown; transient?: unknown };
  return transient !== true && typeof aadsts === 'number' && !USER_OR_REQUEST_AADSTS.has(aadsts);
}

/**
 * Scopes of an agent user's (delegated) token, checked before any request: `<resource>/.default`
 * asks for every scope granted to the agent for the user, and Entra refuses it combined with any
 * other scope (AADSTS70011) — OpenID Connect's `openid`, `profile`, `offline_access` aside.
 * @throws InvalidRequestError `scope_invalid`
 */
export function checkAgentUserScopes(scopes: readonly string[], credential: string): void {
  const named = scopes.filter((s) => !OIDC_SCOPES.has(s.toLowerCase()));
  const all = named.find((s) => s.endsWith('/.default'));
  if (all === undefined || named.length === 1) return;
  throw new InvalidRequestError(
    'scope_invalid',
    `Scopes for credential '${credential}' combine '${all}' with other scopes: an agent user's token takes either '<resource>/.default' alone (every scope granted for the user) or named scopes of one resource (Entra answers AADSTS70011 to the mix).`,
    { credential },
  );
}

const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'offline_access']);

/**
 * A `user_fic` failure as the library should read it: Entra answers a misconfigured agent user (a
 * UPN sent as `user_id`, an agent user not linked to this agent) with AADSTS50000 `server_error`,
 * which the token endpoint's rules read as an outage to retry. On this grant it is a refusal of
 * the request — retried, it fails the same way — so it becomes one (`request_rejected`, with the
 * agent user's hint). Only an answer below 500: a 5xx is an outage whatever code it carries, and
 * stays retried.
 */
function userLegFailure(e: unknown): unknown {
  if (
    !(e instanceof AuthorityFailure) ||
    e.kind === 'rejected' ||
    e.detail.aadsts !== 50000 ||
    (e.detail.status !== undefined && e.detail.status >= 500)
  ) {
    return e;
  }
  const detail = { ...e.detail, retryAfterMs: undefined };
  return new AuthorityFailure('rejected', detail, e.errorMessage, e.reason);
}

/**
 * How msal-node names an agent user: an object id goes as `user_id`, a UPN as `username` — never
 * a UPN as `user_id` (Entra answers AADSTS50000 to that).
 * @throws InvalidRequestError `agent_user_invalid`
 */
export function agentUserName(user: unknown, agent: AgentIdentity): AgentUserName {
  if (typeof user === 'string' && GUID.test(user)) return { userObjectId: user.toLowerCase() };
  if (typeof user === 'string' && UPN.test(user)) return { username: user.toLowerCase() };
  // Quoted as JSON: a caller's string must not write lines of its own into a log.
  const what =
    typeof user === 'string' ? JSON.stringify(user.slice(0, 100)) : `a ${typeof user} value`;
  throw new InvalidRequestError(
    'agent_user_invalid',
    `Agent user ${what} of agent ${agent.id} (credential '${agent.name}') is neither a user principal name nor an object id.`,
    { credential: agent.name, agent: agent.id },
  );
}

/**
 * An agent user (Microsoft Entra Agent ID): the user account an agent identity acts as. Its token
 * takes a third leg, the `user_fic` grant — client id the agent, client assertion the blueprint's
 * token exchange token (T1), `user_federated_identity_credential` the agent's own token for the
 * token exchange scope (T2), and the user by object id or UPN. Both assertions come from the
 * cache like any token; the user's tokens are indexed under this object, keyed by agent and user.
 */
export class AgentUser implements Principal {
  readonly key: string;
  readonly subject: string;
  readonly agentLeg: AgentLegOf;
  private readonly user: string;

  constructor(
    private readonly agent: AgentIdentity,
    private readonly userName: AgentUserName,
  ) {
    this.user = 'userObjectId' in userName ? userName.userObjectId : userName.username;
    this.key = `${agent.key}\u0000user\u0000${this.user}`;
    this.subject = `${agent.subject};user=${this.user}`;
    this.agentLeg = { agent: agent.id, leg: 'agent_user', user: this.user };
  }

  get name(): string {
    return this.agent.name;
  }

  get stats() {
    return this.agent.stats;
  }

  storeKeys(tenantId: string, scopeKey: string): string[] {
    return this.agent
      .storeKeys(tenantId, scopeKey)
      .map((k) => k.replace(/\/agent(~[\w-]+)?\|/, `/agent-user:${this.user}$1|`));
  }

  sourceId(): string {
    return 'agent#0';
  }

  recordSuccess(tenantId: string, expiresOn: number): void {
    this.agent.recordSuccess(tenantId, expiresOn);
  }

  /**
   * Leg 3: the user's token, with T1 (client assertion) and T2 (the user's federated credential);
   * a claims challenge's `claims` go on this request (the user's), not on T1's or T2's.
   */
  async fetch(tenantId: string, scopes: readonly string[], claims?: string): Promise<Fetched> {
    const tokens = this.agent.tokens();
    const scope = this.agent.directory.tokenExchangeScope;
    const t2: TokenRequest = {
      credential: this.agent,
      tenantId,
      scopes: [scope],
      scopeKey: scope,
    };
    const userAssertion = await tokens.token(t2);
    try {
      return await this.agent.leg(
        'agent_user',
        tenantId,
        // The user's outcomes are kept apart from the agent's own scopes: the user is part of the request.
        `user=${this.user} ${scopeKey(scopes)}`,
        this.agent.exchange.request(tenantId),
        (t1) =>
          this.agent
            .client()
            .acquireForUser({
              tenantId,
              scopes,
              correlationId: randomUUID(),
              claims,
              clientAssertion: t1,
              userAssertion,
              user: this.userName,
            })
            .catch((e: unknown) => {
              throw userLegFailure(e);
            }),
      );
    } catch (e) {
      // The agent's token may have been refused as the user's credential: the next attempt gets a new one.
      if (mayRefuseT2(e)) tokens.refuse(t2, userAssertion);
      throw e;
    }
  }
}

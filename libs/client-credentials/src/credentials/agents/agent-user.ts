import { randomUUID } from 'node:crypto';
import type { AgentUserName } from '../../authority/token-client';
import { InvalidRequestError } from '../../errors/client-credentials.errors';
import type { AgentLegOf, Fetched, Principal } from '../principal';
import type { TokenRequest } from '../token-request';
import type { AgentIdentity } from './agent-identity';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A user principal name: `local@domain`, nothing a form parameter would need to escape oddly. */
const UPN = /^[^\s@]{1,113}@[A-Za-z0-9.-]{1,255}$/;

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

  /** Leg 3: the user's token, with T1 (client assertion) and T2 (the user's federated credential). */
  async fetch(tenantId: string, scopes: readonly string[]): Promise<Fetched> {
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
        this.agent.exchange.request(tenantId),
        (t1) =>
          this.agent.client().acquireForUser({
            tenantId,
            scopes,
            correlationId: randomUUID(),
            clientAssertion: t1,
            userAssertion,
            user: this.userName,
          }),
      );
    } catch (e) {
      // The agent's token was refused as the user's credential: the next attempt gets a new one.
      if ((e as { oauthError?: string }).oauthError === 'invalid_grant')
        tokens.refuse(t2, userAssertion);
      throw e;
    }
  }
}

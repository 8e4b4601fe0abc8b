import { randomUUID } from 'node:crypto';
import type { IssuedToken } from '../../authority/source-client';
import type { TokenClient } from '../../authority/token-client';
import { checkIssued } from '../../authority/token-response';
import type { ClientCredentialsError } from '../../errors/client-credentials.errors';
import { toClientCredentialsError } from '../../errors/to-client-credentials-error';
import type { AgentLeg } from '../../observability/token-metrics';
import { scopeKey } from '../../options/request-validation';
import { now } from '../../timing/clock';
import type { AgentLegOf, Fetched, Principal } from '../principal';
import type { TokenRequest } from '../token-request';
import type { AgentHome, LegTokens } from './agent-legs';
import { refusesTheRequest } from './agent-refusals';

/**
 * Leg 1 of an agent's token: the blueprint's token exchange token (T1) for one agent identity —
 * the blueprint's client credentials request for `api://AzureADTokenExchange/.default` with
 * `fmi_path=<agent app id>`, through the blueprint's own chain of sources. A principal of its own,
 * so that T1 is cached, single-flighted and stored under the agent's name, never another's.
 */
export class AgentExchange implements Principal {
  readonly key: string;
  readonly subject: string;
  readonly agentLeg: AgentLegOf;

  constructor(
    private readonly directory: AgentHome,
    /** The agent identity's app id (lower case). */
    readonly agent: string,
  ) {
    this.key = `${directory.blueprint.key}\u0000fmi_path\u0000${agent}`;
    this.subject = `fmi_path=${agent}`;
    this.agentLeg = { agent, leg: 'exchange' };
  }

  get name(): string {
    return this.directory.blueprint.name;
  }

  get stats() {
    return this.directory.blueprint.stats;
  }

  storeKeys(tenantId: string, scopeKey: string): string[] {
    // The blueprint's keys (one per source) naming the agent: `fmi_path` is part of the token.
    return this.directory.blueprint
      .storeKeys(tenantId, scopeKey)
      .map((k) => `${k}\nfmi_path=${this.agent}`);
  }

  fetch(tenantId: string, scopes: readonly string[], claims?: string, refused?: string) {
    return this.directory.blueprint.fetchFor(tenantId, scopes, {
      claims,
      refused,
      fmiPath: this.agent,
    });
  }

  sourceId(index: number): string {
    return this.directory.blueprint.sourceId(index);
  }

  recordSuccess(_tenantId: string, expiresOn: number): void {
    this.directory.context.metrics.success(this.name, expiresOn, undefined, this.agent);
  }

  /** The request of this agent's token exchange token in `tenantId` (the agent's tenant). */
  request(tenantId: string): TokenRequest {
    const scope = this.directory.tokenExchangeScope;
    return { credential: this, tenantId, scopes: [scope], scopeKey: scope };
  }
}

/**
 * An agent identity of a blueprint (Microsoft Entra Agent ID), as the token path sees it: leg 2,
 * the agent's own client credentials request — client id the agent's app id, client assertion its
 * blueprint's token exchange token (leg 1, {@link AgentExchange}), in the same tenant. Its tokens
 * name the agent (`azp`/`oid`); they are indexed under this object and stored under keys naming
 * the agent, so no agent's token is ever served for another.
 *
 * Its msal client is made for each request and dropped after it: an agent identity has no
 * credential of its own (every request carries T1 as its client assertion), msal's cache is not
 * used, and a client costs ~7 µs to make but 3.3 KB to keep — per agent, for fleets of thousands.
 */
export class AgentIdentity implements Principal {
  readonly key: string;
  readonly subject: string;
  readonly agentLeg: AgentLegOf;
  /** Leg 1: the blueprint's token exchange token for this agent. */
  readonly exchange: AgentExchange;
  /** This agent's agent users, by the names calls give them (filled by its directory). */
  users?: Map<string, Principal>;

  constructor(
    readonly directory: AgentHome,
    /** The agent identity's app id (lower case). */
    readonly id: string,
  ) {
    this.key = `${directory.blueprint.key}\u0000agent\u0000${id}`;
    this.subject = `agent=${id}`;
    this.agentLeg = { agent: id, leg: 'agent' };
    this.exchange = new AgentExchange(directory, id);
  }

  get name(): string {
    return this.directory.blueprint.name;
  }

  get stats() {
    return this.directory.blueprint.stats;
  }

  /** An msal client of this agent, for one request. */
  client(): TokenClient {
    return this.directory.createClient(this.id);
  }

  storeKeys(tenantId: string, scopeKey: string): string[] {
    const { authorityHost, name, tokenRequest } = this.directory.blueprint.options;
    const prefix = this.directory.context.keyPrefix;
    const extras = tokenRequest === undefined ? '' : `~${tokenRequest.digest}`;
    return [`${prefix}${authorityHost}|${tenantId}|${this.id}|${name}/agent${extras}|${scopeKey}`];
  }

  sourceId(): string {
    return 'agent#0';
  }

  recordSuccess(_tenantId: string, expiresOn: number): void {
    this.directory.context.metrics.success(this.name, expiresOn, undefined, this.id);
  }

  /** The agent user `user` names (a UPN or an object id), once known. The hot path. */
  user(user: string): Principal | undefined {
    return this.users?.get(user);
  }

  /** Leg 2: this agent's token, its blueprint's token exchange token as client assertion. */
  async fetch(tenantId: string, scopes: readonly string[], claims?: string): Promise<Fetched> {
    const t1 = this.exchange.request(tenantId);
    return this.leg('agent', tenantId, scopeKey(scopes), t1, (assertion) =>
      this.client().acquire({
        tenantId,
        scopes,
        correlationId: randomUUID(),
        claims,
        clientAssertion: assertion,
      }),
    );
  }

  /**
   * One request of this agent (leg 2, or an agent user's leg 3) with T1 as its client assertion:
   * T1 comes from the cache (or one flight); an assertion the authority refuses is served no more,
   * so the next attempt gets a new T1. Counted, and recorded under `asked` (the request's scope
   * key, an agent user's naming the user) in the agent's outcomes by request; as the agent's own
   * outcome too, but for a refusal of what the caller asked (a scope, an agent user): that one
   * says nothing of the agent.
   */
  async leg(
    leg: AgentLeg,
    tenantId: string,
    asked: string,
    t1: TokenRequest,
    send: (assertion: string) => Promise<IssuedToken>,
  ): Promise<Fetched> {
    const { metrics } = this.directory.context;
    const tokens = this.tokens();
    const assertion = await tokens.token(t1);
    const started = now();
    const requestedAt = Date.now();
    const where = { credential: this.name, tenantId, agent: this.id };
    const { maxRetryAfterMs } = this.directory.context;
    const request = async () => {
      try {
        return checkIssued(await send(assertion), requestedAt);
      } catch (e) {
        throw toClientCredentialsError(e, where, maxRetryAfterMs);
      }
    };
    try {
      const span = { credential: this.name, source: 'agent#0', tenantId, leg };
      const issued = await metrics.tracing.request(span, request);
      metrics.request(this.name, 'agent#0', 'ok', now() - started, undefined, leg);
      metrics.success(this.name, issued.expiresOn, undefined, this.id, asked);
      return { issued, index: 0 };
    } catch (e) {
      const error = e as ClientCredentialsError;
      metrics.request(this.name, 'agent#0', error.code, now() - started, undefined, leg);
      const about = refusesTheRequest(leg, error) ? 'request' : 'principal';
      const { code, aadsts, message } = error;
      metrics.failure(this.name, code, aadsts, message, undefined, this.id, asked, about);
      if (error.code === 'credential_rejected') tokens.refuse(t1, assertion);
      throw error;
    }
  }

  /** The legs' token path, wired at start-up. */
  tokens(): LegTokens {
    const tokens = this.directory.tokens;
    if (tokens === undefined) throw new Error('agent identities are not wired to a token path');
    return tokens;
  }
}

import { refusesTheRequest } from '../credentials/agents/agent-refusals';
import {
  agentRequest,
  lru,
  newCredentialStats,
  snapshotOf,
  type CredentialStats,
  type TenantStats,
} from '../observability/credential-stats';

/** Whose outcome a call is: its credential, and the other tenant or the agent it named. */
export interface OutcomeOf {
  credential: string;
  /** Another tenant than the credential's own (as checked: lower case for Entra). */
  tenantId?: string;
  agent?: string;
  /** The agent user it named: its outcomes are kept apart from the agent's own scopes. */
  agentUser?: string;
  /** The call's scope key (`scopeKey` of its scopes): the home tenant's outcomes are kept by scope too. */
  scope: string;
}

/**
 * The double's counters, kept as the real service's metrics keep them (`TokenMetrics.success` /
 * `failure`): each answer a call gets counts as a token request; the last success, token expiry
 * and error are the credential's for its own tenant, else kept under the tenant, or the agent,
 * the call named (bounded as the real ones). So `getStats()` and the health indicator over the
 * double follow the script. Calls refused before the script (a bad scope, say) count nowhere, as
 * the real service's refusals before any network call.
 */
export class DoubleStats {
  private readonly live = new Map<string, CredentialStats>();
  private readonly tenantOrder = new Map<string, Map<string, TenantStats>>();
  private readonly agentOrder = new Map<string, Map<string, TenantStats>>();
  private readonly scopeOrder = new Map<string, Map<string, TenantStats>>();
  private readonly agentRequestOrder = new WeakMap<TenantStats, Map<string, TenantStats>>();

  /** A snapshot of `credential`'s counters, which later calls do not change. */
  snapshot(credential: string): CredentialStats {
    return snapshotOf(this.of(credential));
  }

  /** A token answered, expiring at `expiresOn` (epoch ms). */
  success(call: OutcomeOf, expiresOn: number): void {
    this.count(call.credential);
    for (const s of this.outcomesOf(call)) {
      s.lastSuccessAt = new Date();
      s.lastTokenExpiresOn = new Date(expiresOn);
      s.lastOutcome = 'success';
    }
  }

  /** A scripted error answered: counted by code, and kept as the last error. */
  failure(call: OutcomeOf, error: Error): void {
    this.count(call.credential);
    const e = error as Error & { code?: unknown; aadsts?: unknown };
    const code = typeof e.code === 'string' ? e.code : error.name;
    const s = this.of(call.credential);
    s.failures[code] = (s.failures[code] ?? 0) + 1;
    const recorded = {
      code,
      ...(typeof e.aadsts === 'number' ? { aadsts: e.aadsts } : {}),
      message: error.message,
      at: new Date(),
    };
    const leg = call.agentUser === undefined ? 'agent' : 'agent_user';
    // As the real service: a refusal of what the caller asked an agent (a scope, a user) is kept
    // under that request only, not as the agent's own failure.
    const aboutRequest = call.agent !== undefined && refusesTheRequest(leg, error);
    for (const t of this.outcomesOf(call).slice(aboutRequest ? 1 : 0)) {
      t.lastError = recorded;
      t.lastOutcome = 'failure';
    }
  }

  /** Forgets every counter. */
  reset(): void {
    this.live.clear();
    this.tenantOrder.clear();
    this.agentOrder.clear();
    this.scopeOrder.clear();
  }

  /** A token request and a cache miss: the double has no cache. */
  private count(credential: string): void {
    const s = this.of(credential);
    s.cacheMisses++;
    s.tokenRequests++;
  }

  private of(credential: string): CredentialStats {
    let s = this.live.get(credential);
    if (s === undefined) {
      s = newCredentialStats(credential);
      this.live.set(credential, s);
    }
    return s;
  }

  /**
   * Where an outcome is kept: an agent's and its request's, another tenant's, or the credential's
   * own and, as the real metrics keep it, its scope's in the home tenant.
   */
  private outcomesOf({ credential, tenantId, agent, agentUser, scope }: OutcomeOf): TenantStats[] {
    const s = this.of(credential);
    if (agent !== undefined) {
      s.agents ??= Object.create(null) as Record<string, TenantStats>;
      const own = lru(this.agentOrder, credential, s.agents, agent);
      const asked = agentUser === undefined ? scope : `user=${agentUser.toLowerCase()} ${scope}`;
      return [own, agentRequest(this.agentRequestOrder, own, asked)];
    }
    if (tenantId !== undefined) {
      s.tenants ??= Object.create(null) as Record<string, TenantStats>;
      return [lru(this.tenantOrder, credential, s.tenants, tenantId)];
    }
    s.scopes ??= Object.create(null) as Record<string, TenantStats>;
    return [s, lru(this.scopeOrder, credential, s.scopes, scope)];
  }
}

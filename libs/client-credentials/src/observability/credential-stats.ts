import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';

/** A failure as kept in stats: its stable code, AADSTS number, message (no secret) and time. */
export interface RecordedError {
  code: string;
  aadsts?: number;
  message: string;
  at: Date;
}

/** A source passed over, with the reason and until when. */
export interface RecordedSkip {
  reason: string;
  until: Date;
}

/**
 * A source that still works but needs an operator: a certificate file replaced by one that cannot
 * be loaded, while the certificate read before it still signs.
 */
export interface RecordedProblem {
  /** What is wrong and what to fix: the file and the cause; never key material. */
  reason: string;
  /** Since when. */
  since: Date;
}

/**
 * What is known of one tenant other than the credential's own (a customer tenant of a
 * multi-tenant app): kept apart so that one tenant's refusal never marks the credential as failing.
 */
export interface TenantStats {
  /** When a token of this tenant was last obtained. */
  lastSuccessAt?: Date;
  /** When the token of this tenant obtained last expires. */
  lastTokenExpiresOn?: Date;
  /** The last failure in this tenant. */
  lastError?: RecordedError;
  /** Which of `lastSuccessAt` and `lastError` came last (see {@link CredentialStats.lastOutcome}). */
  lastOutcome?: 'success' | 'failure';
  /** Sources this tenant rejected, passed over for this tenant only, by source id. */
  skippedSources?: Record<string, RecordedSkip>;
  /**
   * An agent's only (`CredentialStats.agents`): the outcomes of its requests, by scope key — an
   * agent user's as `user=<user> <scopes>`. A refusal of what a caller asked (a scope the resource
   * does not have, an unknown or unconsented agent user) is kept here only, not as the agent's
   * own failure. At most {@link MAX_AGENT_REQUEST_STATS} per agent, the least recently heard of
   * forgotten first.
   */
  scopes?: Record<string, TenantStats>;
}

/**
 * Tenants kept per credential. A multi-tenant app may serve many customers; past this, the tenant
 * heard of least recently is forgotten (its tokens are not: only these counters).
 */
export const MAX_TENANT_STATS = 1000;

/** Requests (scopes, agent users) whose outcomes are kept per agent: callers name the users. */
export const MAX_AGENT_REQUEST_STATS = 20;

/**
 * Counters of one credential, readable through `TokenService.getStats()`: a snapshot, taken when
 * it is called, which later calls and refreshes do not change (compare two snapshots to see what
 * happened in between). The fields of the last success, token and error are of the credential's
 * own (home) tenant; other tenants are in `tenants`.
 */
export interface CredentialStats {
  /** The credential these counters are of (the default credential's name when none was asked). */
  credential: string;
  /** Calls answered from process memory. */
  cacheHits: number;
  /** Calls that found no usable token in memory. */
  cacheMisses: number;
  /**
   * Callers' misses answered by the cache-manager store (e.g. a token another replica fetched). A
   * background refresh that adopts a token of the store counts in `refreshes`, not here.
   */
  storeHits: number;
  /** Token requests sent to the authority. */
  tokenRequests: number;
  /**
   * Background refreshes that succeeded: a token fetched, or (with a store) a newer token another
   * replica's refresh stored, adopted.
   */
  refreshes: number;
  /** Token requests that failed, by error code. */
  failures: Record<string, number>;
  /** When a token was last obtained. */
  lastSuccessAt?: Date;
  /** When the token obtained last expires. */
  lastTokenExpiresOn?: Date;
  /** When the certificate of a certificate source expires (the earliest, if several). */
  certificateNotAfter?: Date;
  /**
   * Sources of the chain being passed over, by source id, with the reason: those unusable for
   * every tenant (a missing file, no managed identity endpoint) and those the home tenant rejected.
   */
  skippedSources?: Record<string, RecordedSkip>;
  /**
   * Sources that still give tokens but need an operator, by source id: a certificate file
   * replaced by one that cannot be loaded (the previous certificate keeps signing until a usable
   * file replaces it). Absent when there are none.
   */
  sourceProblems?: Record<string, RecordedProblem>;
  /**
   * Where this credential's managed identity tokens come from (`imds` on VMs, scale sets and AKS
   * nodes, `app-service`, `azure-arc`…), as msal-node detected it from the environment; absent
   * for credentials without a managed identity source.
   */
  managedIdentityHost?: ManagedIdentityHost;
  /** The last failure in the home tenant, without secrets. */
  lastError?: RecordedError;
  /**
   * Which came last, the success (`lastSuccessAt`) or the failure (`lastError`), in the order they
   * were recorded: health and metrics decide "failing" on it, not by comparing the two times,
   * which a wall clock stepped back between them (NTP, a resumed VM) would put in the wrong order.
   */
  lastOutcome?: 'success' | 'failure';
  /** Tenants other than the home tenant asked for per call (`tenantId` option), by tenant id. */
  tenants?: Record<string, TenantStats>;
  /**
   * An agent identity blueprint's agents whose tokens were asked for (`agent` option), by agent
   * app id: the outcome of their last requests, any leg, in any tenant — but refusals of what a
   * caller asked (a scope, an agent user: kept in the agent's `scopes` only). Kept apart from the
   * blueprint's own: one agent's failure (a deleted agent) never marks the blueprint as failing.
   * At most {@link MAX_TENANT_STATS}, the agent heard of least recently forgotten first.
   */
  agents?: Record<string, TenantStats>;
  /**
   * The home tenant's outcomes by scope key (the scopes of a request joined by a space): the last
   * success, token and error of each, the least recently heard of forgotten past
   * {@link MAX_TENANT_STATS}. Health judges the credential on them: a scope that keeps failing
   * while another works shows as `degraded`, listed in `failingScopes`.
   */
  scopes?: Record<string, TenantStats>;
  /**
   * Tenants no longer in `tenants` (it keeps the 1,000 heard of most recently) whose last token
   * request had succeeded, and not heard of since: the credential works there, whatever the kept
   * tenants say (at most 1,000 counted).
   */
  forgottenWorkingTenants?: number;
}

/** The counters of a credential nothing has happened to yet. */
export function newCredentialStats(credential: string): CredentialStats {
  return {
    credential,
    cacheHits: 0,
    cacheMisses: 0,
    storeHits: 0,
    tokenRequests: 0,
    refreshes: 0,
    failures: {},
    // No prototype: tenant ids come from callers ('__proto__' must stay a plain key).
    tenants: Object.create(null) as Record<string, TenantStats>,
  };
}

/**
 * The entry `id` of `record`, created on first use and made the most recent of `orders`' list for
 * `credential`; past {@link MAX_TENANT_STATS} entries the least recent goes. O(1) per use.
 */
export function lru(
  orders: Map<string, Map<string, TenantStats>>,
  credential: string,
  record: Record<string, TenantStats>,
  id: string,
): TenantStats {
  let order = orders.get(credential);
  if (order === undefined) orders.set(credential, (order = new Map<string, TenantStats>()));
  return mostRecent(order, record, id, MAX_TENANT_STATS);
}

/**
 * The outcomes of one request of an agent (its scope key; an agent user's, `user=<user> <scopes>`)
 * in `agent`'s `scopes`, created on first use and made the most recent in `orders` (kept per
 * agent's stats object: it goes with them); past {@link MAX_AGENT_REQUEST_STATS} the least recent
 * goes — the users come from callers. O(1) per use.
 */
export function agentRequest(
  orders: WeakMap<TenantStats, Map<string, TenantStats>>,
  agent: TenantStats,
  scope: string,
): TenantStats {
  const scopes = (agent.scopes ??= Object.create(null) as Record<string, TenantStats>);
  let order = orders.get(agent);
  if (order === undefined) orders.set(agent, (order = new Map<string, TenantStats>()));
  return mostRecent(order, scopes, scope, MAX_AGENT_REQUEST_STATS);
}

/**
 * The entry `id` of `record` (created on first use), made the most recent in `order` (a Map keeps
 * insertion order); past `max` entries the least recent leaves both. O(1).
 */
function mostRecent(
  order: Map<string, TenantStats>,
  record: Record<string, TenantStats>,
  id: string,
  max: number,
): TenantStats {
  let t = order.get(id);
  if (t === undefined) record[id] = t = {};
  order.delete(id);
  order.set(id, t);
  if (order.size > max) {
    const oldest = order.keys().next().value as string;
    order.delete(oldest);
    delete record[oldest];
  }
  return t;
}

/**
 * Whether the last outcome of a tenant (a credential, an agent, a scope) was a failure: the one
 * rule of health and metrics. By `lastOutcome`, the order of recording; for stats without it (built
 * by hand), by time, a success in the same millisecond as the failure taken as the later one.
 */
export function isFailing(t: Readonly<TenantStats>): boolean {
  if (t.lastError === undefined) return false;
  if (t.lastOutcome !== undefined) return t.lastOutcome === 'failure';
  return t.lastSuccessAt === undefined || t.lastError.at.getTime() > t.lastSuccessAt.getTime();
}

/**
 * A copy of `live` that shares nothing with it (counters, dates, tenants): what
 * `TokenService.getStats()` hands out, so that a caller holding it sees the counters as they were.
 */
export function snapshotOf(live: Readonly<CredentialStats>): CredentialStats {
  const copy: CredentialStats = { ...live, failures: { ...live.failures } };
  copyDates(copy);
  if (live.lastError !== undefined) copy.lastError = errorCopy(live.lastError);
  if (live.skippedSources !== undefined) copy.skippedSources = skipsCopy(live.skippedSources);
  if (live.sourceProblems !== undefined) {
    copy.sourceProblems = Object.fromEntries(
      Object.entries(live.sourceProblems).map(([id, p]) => [
        id,
        { ...p, since: new Date(p.since) },
      ]),
    );
  }
  if (live.tenants !== undefined) copy.tenants = recordCopy(live.tenants);
  if (live.agents !== undefined) copy.agents = recordCopy(live.agents);
  if (live.scopes !== undefined) copy.scopes = recordCopy(live.scopes);
  return copy;
}

/** A copy of a tenants' or agents' record. */
function recordCopy(live: Record<string, TenantStats>): Record<string, TenantStats> {
  // No prototype, as the live record: tenant and agent ids come from callers.
  const copy = Object.create(null) as Record<string, TenantStats>;
  for (const [id, t] of Object.entries(live)) {
    const c: TenantStats = { ...t };
    copyDates(c);
    if (t.lastError !== undefined) c.lastError = errorCopy(t.lastError);
    if (t.skippedSources !== undefined) c.skippedSources = skipsCopy(t.skippedSources);
    if (t.scopes !== undefined) c.scopes = recordCopy(t.scopes);
    copy[id] = c;
  }
  return copy;
}

function copyDates(s: TenantStats & { certificateNotAfter?: Date }): void {
  if (s.lastSuccessAt !== undefined) s.lastSuccessAt = new Date(s.lastSuccessAt);
  if (s.lastTokenExpiresOn !== undefined) s.lastTokenExpiresOn = new Date(s.lastTokenExpiresOn);
  if (s.certificateNotAfter !== undefined) s.certificateNotAfter = new Date(s.certificateNotAfter);
}

function errorCopy(e: RecordedError): RecordedError {
  return { ...e, at: new Date(e.at) };
}

function skipsCopy(skips: Record<string, RecordedSkip>): Record<string, RecordedSkip> {
  return Object.fromEntries(
    Object.entries(skips).map(([id, skip]) => [id, { ...skip, until: new Date(skip.until) }]),
  );
}

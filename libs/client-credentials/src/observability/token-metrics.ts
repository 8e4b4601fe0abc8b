import type { Counter, Histogram } from '@opentelemetry/api';
import type { AgentLegName } from '../client-credentials.events';
import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';
import {
  isFailing,
  agentRequest,
  lru,
  MAX_TENANT_STATS,
  newCredentialStats,
  type CredentialStats,
  type TenantStats,
} from './credential-stats';
import { loadMeter } from './meter';
import { observeAtCollection } from './observable-instruments';
import { TokenEvents } from './token-events';
import { TokenTracing } from './token-tracing';
import type { SharedCacheStats } from '../shared-cache/shared-cache-stats';

/**
 * Seconds of remaining lifetime: bucket bounds from a minute to a day (OpenTelemetry's default
 * bounds, up to 10,000, would put every token of an hour or more in one bucket).
 */
const LIFETIME_BUCKETS_S = [60, 300, 600, 1200, 1800, 2700, 3600, 5400, 7200, 14400, 43200, 86400];

/**
 * What one token service reports: OpenTelemetry instruments (no-ops unless the app registers an
 * SDK), plain counters, and — handed to the same parts of the token path — its events and spans.
 * The cache-hit path only bumps a number; an observable counter reports it at collection time.
 */
export class TokenMetrics {
  /** The service's events (`TokenService.events`, the event-emitter bridge). */
  readonly events = new TokenEvents();
  /** Spans of token requests and background refreshes. */
  readonly tracing = new TokenTracing();
  private readonly meter = loadMeter();
  private readonly requests: Counter = this.meter.createCounter(
    'client_credentials.token_requests',
    {
      description: 'Token requests sent to the authority, by outcome',
    },
  );
  private readonly duration: Histogram = this.meter.createHistogram(
    'client_credentials.token_request.duration',
    {
      description: 'Duration of token requests to the authority',
      unit: 'ms',
    },
  );
  private readonly lifetime: Histogram = this.meter.createHistogram(
    'client_credentials.token.remaining_lifetime',
    {
      description:
        'Remaining lifetime of each token obtained — from the authority, or from the store another replica filled — when it was obtained',
      unit: 's',
      advice: { explicitBucketBoundaries: LIFETIME_BUCKETS_S },
    },
  );
  private readonly stats = new Map<string, CredentialStats>();
  /** Per credential, its other tenants' (or agents') stats, least recently heard of first. */
  private readonly tenantOrder = new Map<string, Map<string, TenantStats>>();
  private readonly agentOrder = new Map<string, Map<string, TenantStats>>();
  private readonly scopeOrder = new Map<string, Map<string, TenantStats>>();
  /** Per agent's stats, its requests' outcomes (`TenantStats.scopes`), least recently heard of first. */
  private readonly agentRequestOrder = new WeakMap<TenantStats, Map<string, TenantStats>>();
  /** Per credential, tenants forgotten while working (see `forgottenWorkingTenants`), oldest first. */
  private readonly forgottenWorking = new Map<string, Set<string>>();
  private readonly sharedCaches = new Set<() => Readonly<SharedCacheStats> | undefined>();

  /** Removes the instruments' callbacks from the meter (see {@link close}). */
  private readonly unobserve: () => void;

  constructor() {
    this.unobserve = observeAtCollection(this.meter, this.stats, this.sharedCaches);
  }

  /**
   * Ends the events and takes the service's counters off the process-wide meter: a closed service
   * is no longer reported (its last values would stay on every collection) nor kept in memory by it.
   */
  close(): void {
    this.events.close();
    this.unobserve();
    this.sharedCaches.clear();
  }

  /**
   * Reports the shared (Redis) cache's counters — reads, writes, rejected entries, lock waits —
   * through the instruments; `read` answers undefined while there is no shared cache.
   */
  watchSharedCache(read: () => Readonly<SharedCacheStats> | undefined): void {
    this.sharedCaches.add(read);
  }

  /** The live counters of a credential (created on first use). */
  of(credential: string): CredentialStats {
    let s = this.stats.get(credential);
    if (!s) {
      s = newCredentialStats(credential);
      this.stats.set(credential, s);
    }
    return s;
  }

  /**
   * Counts one token request of a source; a managed identity's carries the host that answered
   * (`managed_identity_host`), so dashboards tell IMDS from App Service or Arc.
   */
  request(
    credential: string,
    source: string,
    outcome: string,
    ms: number,
    host?: ManagedIdentityHost,
    leg?: AgentLeg,
  ): void {
    this.of(credential).tokenRequests++;
    // Never the agent's id: a fleet has thousands; the leg is one of three.
    const attributes: Record<string, string> = { credential, source, outcome };
    if (host !== undefined) attributes.managed_identity_host = host;
    if (leg !== undefined) attributes.agent_leg = leg;
    this.requests.add(1, attributes);
    this.duration.record(ms, attributes);
  }

  /**
   * Records the remaining lifetime of a token just obtained (MSAL .NET's
   * `MsalRemainingTokenLifetime`): per token obtained, never per cache hit. Labelled by credential,
   * where it came from (`authority`, or the `store` another replica filled) and why (`caller`, or
   * a background `refresh`) — never by tenant or agent, whose number has no bound.
   */
  remainingLifetime(
    credential: string,
    expiresOn: number,
    origin: 'authority' | 'store',
    trigger: 'caller' | 'refresh',
  ): void {
    const seconds = Math.max(0, Math.round((expiresOn - Date.now()) / 1000));
    this.lifetime.record(seconds, { credential, origin, trigger });
  }

  /**
   * Records a failed token acquisition: counted by code for the credential, and kept as the last
   * error of `agent`, of `tenant` (another tenant than the home one) or of the credential (home
   * tenant) — there also as the last error of its `scope` (a scope key; an agent's request's, see
   * `TenantStats.scopes`). `about: 'request'`: a refusal of what a caller asked an agent for (a
   * scope, an agent user), kept under that request only — it says nothing of the agent.
   */
  failure(
    credential: string,
    code: string,
    aadsts: number | undefined,
    message: string,
    tenant?: string,
    agent?: string,
    scope?: string,
    about: 'principal' | 'request' = 'principal',
  ): void {
    const s = this.of(credential);
    s.failures[code] = (s.failures[code] ?? 0) + 1;
    const error = { code, aadsts, message, at: new Date() };
    const ofScope = this.scopeOf(credential, tenant, agent, scope);
    if (ofScope !== undefined) {
      ofScope.lastError = error;
      ofScope.lastOutcome = 'failure';
    }
    if (about === 'request' && ofScope !== undefined) return;
    const t = this.outcomeOf(credential, tenant, agent);
    t.lastError = error;
    t.lastOutcome = 'failure';
  }

  /**
   * Records a token obtained (or adopted from the store) for `agent`, for `tenant`, or for the
   * home tenant — there also for its `scope` (a scope key).
   */
  success(
    credential: string,
    expiresOn: number,
    tenant?: string,
    agent?: string,
    scope?: string,
  ): void {
    const s = this.outcomeOf(credential, tenant, agent);
    s.lastSuccessAt = new Date();
    s.lastTokenExpiresOn = new Date(expiresOn);
    s.lastOutcome = 'success';
    const ofScope = this.scopeOf(credential, tenant, agent, scope);
    if (ofScope !== undefined) {
      ofScope.lastSuccessAt = s.lastSuccessAt;
      ofScope.lastTokenExpiresOn = s.lastTokenExpiresOn;
      ofScope.lastOutcome = 'success';
    }
  }

  /**
   * The outcomes of one scope key (bounded as tenants) of the home tenant, or of an agent's
   * requests: health judges a credential on each of its scopes, so that one scope failing is
   * neither hidden by another's success nor taken for the credential failing; an agent's keep
   * what a caller asked (a scope, an agent user) apart from the agent's own outcome.
   */
  private scopeOf(
    credential: string,
    tenant: string | undefined,
    agent: string | undefined,
    scope: string | undefined,
  ): TenantStats | undefined {
    if (scope === undefined) return undefined;
    if (agent !== undefined) {
      return agentRequest(this.agentRequestOrder, this.agent(credential, agent), scope);
    }
    if (tenant !== undefined) return undefined;
    const scopes = (this.of(credential).scopes ??= Object.create(null) as Record<
      string,
      TenantStats
    >);
    return lru(this.scopeOrder, credential, scopes, scope);
  }

  /** Where an outcome is kept: an agent's, another tenant's, or the credential's own. */
  private outcomeOf(credential: string, tenant?: string, agent?: string): TenantStats {
    if (agent !== undefined) return this.agent(credential, agent);
    return tenant === undefined ? this.of(credential) : this.tenant(credential, tenant);
  }

  /** The counters of an agent of a blueprint credential, created on first use (bounded as tenants). */
  agent(credential: string, agent: string): TenantStats {
    const agents = (this.of(credential).agents ??= Object.create(null) as Record<
      string,
      TenantStats
    >);
    return lru(this.agentOrder, credential, agents, agent);
  }

  /**
   * The counters of another tenant of a credential, created on first use. At most
   * {@link MAX_TENANT_STATS} per credential: the tenant heard of least recently goes first. The
   * order lives in a Map (O(1) per token obtained, whatever the number of tenants).
   */
  tenant(credential: string, tenant: string): TenantStats {
    const tenants = (this.of(credential).tenants ??= Object.create(null) as Record<
      string,
      TenantStats
    >);
    let order = this.tenantOrder.get(credential);
    if (order === undefined) {
      this.tenantOrder.set(credential, (order = new Map<string, TenantStats>()));
    }
    let t = order.get(tenant);
    if (t === undefined) tenants[tenant] = t = {};
    order.delete(tenant);
    order.set(tenant, t);
    const forgotten = this.forgottenWorking.get(credential);
    // Heard of again: judged on what it says now.
    if (forgotten?.delete(tenant)) this.of(credential).forgottenWorkingTenants = forgotten.size;
    if (order.size > MAX_TENANT_STATS) {
      const [oldest, stats] = order.entries().next().value as [string, TenantStats];
      order.delete(oldest);
      delete tenants[oldest];
      if (stats.lastSuccessAt !== undefined && !isFailing(stats))
        this.forgetWorking(credential, oldest);
    }
    return t;
  }

  /** Counts `tenant`, leaving `tenants` while its last request had succeeded (bounded). */
  private forgetWorking(credential: string, tenant: string): void {
    let forgotten = this.forgottenWorking.get(credential);
    if (forgotten === undefined) this.forgottenWorking.set(credential, (forgotten = new Set()));
    forgotten.add(tenant);
    if (forgotten.size > MAX_TENANT_STATS) {
      forgotten.delete(forgotten.values().next().value as string);
    }
    this.of(credential).forgottenWorkingTenants = forgotten.size;
  }
}

/** A leg of an agent identity's token (Entra Agent ID), as the request metric names it. */
export type AgentLeg = AgentLegName;

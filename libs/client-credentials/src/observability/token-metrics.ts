import type { Counter, Histogram, ObservableResult } from '@opentelemetry/api';
import type { AgentLegName } from '../client-credentials.events';
import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';
import {
  isFailing,
  lru,
  MAX_TENANT_STATS,
  type CredentialStats,
  type TenantStats,
} from './credential-stats';
import { loadMeter } from './meter';
import { TokenEvents } from './token-events';
import { TokenTracing } from './token-tracing';
import type { SharedCacheStats } from '../shared-cache/shared-cache-stats';

/** The shared cache's counters exported as `client_credentials.shared_cache.<name>`. */
const SHARED_CACHE_COUNTERS = [
  ['commands', 'commands', 'Redis commands sent'],
  ['reads', 'reads', 'Entries read from Redis and opened'],
  ['writes', 'writes', 'Entries written to Redis'],
  ['rejected_entries', 'rejectedEntries', 'Entries that failed to decrypt or authenticate'],
  ['unknown_key_entries', 'unknownKeyEntries', 'Entries sealed under an unknown key id'],
  ['errors', 'errors', 'Redis commands that failed, timed out or were skipped'],
  ['timeouts', 'timeouts', 'Redis commands slower than operationTimeoutMs'],
  ['lock_acquired', 'lockAcquired', 'Token fetches done under the cross-process lock'],
  ['lock_waits', 'lockWaits', "Acquisitions that waited for another replica's token"],
  ['lock_wait_hits', 'lockWaitHits', "Lock waits that ended with the other replica's token"],
  ['lock_wait_timeouts', 'lockWaitTimeouts', 'Lock waits that gave up and fetched'],
  ['lock_wait_failures', 'lockWaitFailures', "Lock waits that ended with the holder's failure"],
  ['lock_extensions', 'lockExtensions', 'Extensions of a lock this replica held'],
  ['refreshes_held', 'refreshesHeld', 'Background refreshes put off while Redis could not be used'],
  ['master_switches', 'masterSwitches', 'Sentinel master switches followed at their announcement'],
] as const satisfies readonly (readonly [string, keyof SharedCacheStats, string])[];

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
  /** Per credential, tenants forgotten while working (see `forgottenWorkingTenants`), oldest first. */
  private readonly forgottenWorking = new Map<string, Set<string>>();
  private readonly sharedCaches = new Set<() => Readonly<SharedCacheStats> | undefined>();

  constructor() {
    const observe =
      (field: 'cacheHits' | 'cacheMisses' | 'storeHits' | 'refreshes') =>
      (result: { observe(value: number, attributes: Record<string, string>): void }) => {
        for (const [credential, s] of this.stats) result.observe(s[field], { credential });
      };
    this.meter
      .createObservableCounter('client_credentials.cache.hits', {
        description: 'Calls served from memory',
      })
      .addCallback(observe('cacheHits'));
    this.meter
      .createObservableCounter('client_credentials.cache.misses', {
        description: 'Calls that missed memory',
      })
      .addCallback(observe('cacheMisses'));
    this.meter
      .createObservableCounter('client_credentials.cache.store_hits', {
        description: 'Misses served by the store',
      })
      .addCallback(observe('storeHits'));
    this.meter
      .createObservableCounter('client_credentials.refreshes', {
        description: 'Background refreshes done',
      })
      .addCallback(observe('refreshes'));
    // Seconds left, read at collection time: an alert fires on a token or certificate about to
    // expire without the hit path doing any work.
    const left = (at: Date | undefined) => Math.round(((at?.getTime() ?? 0) - Date.now()) / 1000);
    // Labelled by credential only, never by tenant: a multi-tenant app serves any number of
    // customer tenants, and a series per tenant would grow past what a metrics backend keeps (the
    // OpenTelemetry SDK folds series past 2,000 into one), freeze forgotten tenants at their last
    // value, and list customers' tenant ids on a metrics page. Other tenants are counted instead.
    this.meter
      .createObservableGauge('client_credentials.token.expires_in_seconds', {
        description: "Seconds until the token obtained last in the credential's own tenant expires",
        unit: 's',
      })
      .addCallback((result) => {
        for (const [credential, s] of this.stats) {
          if (s.lastTokenExpiresOn) result.observe(left(s.lastTokenExpiresOn), { credential });
        }
      });
    this.meter
      .createObservableGauge('client_credentials.tenants', {
        description:
          'Other tenants a credential got tokens of, or failed to (at most 1,000 kept), by whether their last request failed',
      })
      .addCallback((result) => {
        for (const [credential, s] of this.stats) {
          let failing = 0;
          let ok = 0;
          for (const t of Object.values(s.tenants ?? {})) {
            if (isFailing(t)) failing++;
            else ok++;
          }
          result.observe(ok, { credential, state: 'ok' });
          result.observe(failing, { credential, state: 'failing' });
        }
      });
    this.meter
      .createObservableGauge('client_credentials.certificate.expires_in_seconds', {
        description: "Seconds until a certificate source's certificate expires (the earliest)",
        unit: 's',
      })
      .addCallback((result) => {
        for (const [credential, s] of this.stats) {
          if (s.certificateNotAfter) result.observe(left(s.certificateNotAfter), { credential });
        }
      });
    const shared = (field: keyof Omit<SharedCacheStats, 'connected'>) => (r: ObservableResult) => {
      for (const read of this.sharedCaches) {
        const stats = read();
        if (stats) r.observe(stats[field]);
      }
    };
    for (const [name, field, description] of SHARED_CACHE_COUNTERS) {
      this.meter
        .createObservableCounter(`client_credentials.shared_cache.${name}`, { description })
        .addCallback(shared(field));
    }
    // Per replica, what an alert on a fleet looks at first: is this process sharing its tokens?
    this.meter
      .createObservableGauge('client_credentials.shared_cache.connected', {
        description: 'Whether the shared cache (Redis) can be used now: 1, or 0',
      })
      .addCallback((result) => {
        for (const read of this.sharedCaches) {
          const stats = read();
          if (stats) result.observe(stats.connected ? 1 : 0);
        }
      });
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
      s = {
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
   * error of `tenant` (another tenant than the home one) or of the credential (home tenant).
   */
  failure(
    credential: string,
    code: string,
    aadsts: number | undefined,
    message: string,
    tenant?: string,
    agent?: string,
  ): void {
    const s = this.of(credential);
    s.failures[code] = (s.failures[code] ?? 0) + 1;
    const error = { code, aadsts, message, at: new Date() };
    this.outcomeOf(credential, tenant, agent).lastError = error;
  }

  /**
   * Records a token obtained (or adopted from the store) for `agent`, for `tenant`, or for the
   * home tenant.
   */
  success(credential: string, expiresOn: number, tenant?: string, agent?: string): void {
    const s = this.outcomeOf(credential, tenant, agent);
    s.lastSuccessAt = new Date();
    s.lastTokenExpiresOn = new Date(expiresOn);
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

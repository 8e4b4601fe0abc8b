import { metrics, type Counter, type Histogram } from '@opentelemetry/api';

/** Counters of one credential, readable through `TokenService.getStats()`. */
export interface CredentialStats {
  /** Calls answered from process memory. */
  cacheHits: number;
  /** Calls that found no usable token in memory. */
  cacheMisses: number;
  /** Misses answered by the cache-manager store (e.g. a token another replica fetched). */
  storeHits: number;
  /** Token requests sent to the authority. */
  tokenRequests: number;
  /** Background refreshes that succeeded. */
  refreshes: number;
  /** Token requests that failed, by error code. */
  failures: Record<string, number>;
  /** When a token was last obtained. */
  lastSuccessAt?: Date;
  /** When the token obtained last expires. */
  lastTokenExpiresOn?: Date;
  /** When the certificate of a certificate source expires (the earliest, if several). */
  certificateNotAfter?: Date;
  /** Sources of the chain being passed over, by source id, with the reason. */
  skippedSources?: Record<string, { reason: string; until: Date }>;
  /** The last failure, without secrets. */
  lastError?: { code: string; aadsts?: number; message: string; at: Date };
}

/**
 * OpenTelemetry instruments (no-ops unless the app registers an SDK) and plain counters.
 * The cache-hit path only bumps a number; an observable counter reports it at collection time.
 */
export class TokenMetrics {
  private readonly meter = metrics.getMeter('nest-client-credentials');
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
  private readonly stats = new Map<string, CredentialStats>();

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
  }

  /** The live counters of a credential (created on first use). */
  of(credential: string): CredentialStats {
    let s = this.stats.get(credential);
    if (!s) {
      s = {
        cacheHits: 0,
        cacheMisses: 0,
        storeHits: 0,
        tokenRequests: 0,
        refreshes: 0,
        failures: {},
      };
      this.stats.set(credential, s);
    }
    return s;
  }

  request(credential: string, source: string, outcome: string, ms: number): void {
    this.of(credential).tokenRequests++;
    this.requests.add(1, { credential, source, outcome });
    this.duration.record(ms, { credential, source, outcome });
  }

  failure(credential: string, code: string, aadsts: number | undefined, message: string): void {
    const s = this.of(credential);
    s.failures[code] = (s.failures[code] ?? 0) + 1;
    s.lastError = { code, aadsts, message, at: new Date() };
  }
}

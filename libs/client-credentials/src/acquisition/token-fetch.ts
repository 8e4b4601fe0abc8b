import type { LoggerService } from '@nestjs/common';
import type { AccessToken } from '../access-token';
import { storedTokenOf } from '../cache/issued-token';
import type { CachedEntry, TokenCache } from '../cache/token-cache';
import type { TokenRequest } from '../credentials/token-request';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { TokenMetrics } from '../observability/token-metrics';
import type { TokenPolicy } from '../options/resolved-options';
import { backoffDelay, sleep } from '../timing/backoff';
import { now } from '../timing/clock';
import type { RefusedTokens } from './refused-tokens';

/** Why a token is being obtained: a caller waits for it, or the background refresh. */
export type Trigger = 'caller' | 'refresh';

/** The result of one acquisition, shared by every caller that waited for it. */
export interface Acquired {
  readonly entry: CachedEntry;
  readonly token: AccessToken;
  /** Adopted from the store: a token another replica (or an earlier run) had obtained. */
  readonly adopted?: boolean;
}

/**
 * The same name for the same token in every replica (the store key of its first source);
 * undefined while its principal has no store keys (see `Principal.storeKeys`): no lock then.
 */
export function lockNameOf(request: TokenRequest): string | undefined {
  const keys = request.credential.storeKeys(request.tenantId, request.scopeKey);
  return keys.length === 0 ? undefined : keys[0];
}

/**
 * Where the token of a flight comes from: the store (another replica's, an earlier run's), else
 * the authority — token requests retried with backoff and Retry-After, the store read again
 * between them. Either way the token is made current in memory. Single flight, cool-downs and
 * deadlines are the acquirer's.
 */
export class TokenFetch {
  constructor(
    private readonly cache: TokenCache,
    private readonly options: TokenPolicy,
    private readonly logger: LoggerService,
    private readonly refused: RefusedTokens,
    /** Where remaining lifetimes are reported. */
    private readonly metrics: TokenMetrics,
    /** Aborted when the service shuts down: no more retries. */
    private readonly shutdown: AbortSignal,
    /** Called with every entry that becomes current, to schedule its refresh. */
    private readonly onCurrent: (entry: CachedEntry) => void,
  ) {}

  /**
   * A usable token of the store (another replica's, an earlier run's), made current; never one an
   * API refused, nor one older than it.
   */
  async fromStore(
    request: TokenRequest,
    key: string,
    trigger: Trigger,
    accept?: (entry: CachedEntry) => boolean,
  ): Promise<Acquired | undefined> {
    const stored = await this.cache.read(request, this.refused.filter(key, accept));
    if (stored === undefined) return undefined;
    request.credential.stats.storeHits++;
    this.metrics.remainingLifetime(request.credential.name, stored.expiresOn, 'store', trigger);
    // A token another replica fetched counts as this credential working, for health and readiness.
    request.credential.recordSuccess(
      request.tenantId,
      stored.expiresOn,
      stored.token,
      request.scopeKey,
    );
    this.cache.adopt(stored);
    this.onCurrent(stored);
    return { entry: stored, token: stored.hit, adopted: true };
  }

  /**
   * Token requests until one succeeds, a failure is not transient, or time or attempts run out.
   * The token this request replaces is named to the source — a managed identity endpoint, which
   * caches tokens, would otherwise answer with that same token: one an API refused (by a caller's
   * replacement, and by a background refresh that was already under way when the refusal came),
   * else the one a background refresh `renews`. An endpoint that cannot be told (IMDS) may still
   * answer with the token renewed: it is then refreshed again once the endpoint mints
   * ({@link afterEndpointCache}), not at half the time it has left.
   * @param made attempts the flight already made (a background refresh's it rode), out of `attempts`
   */
  async fetch(
    request: TokenRequest,
    key: string,
    deadline: number,
    attempts: number,
    trigger: Trigger,
    renews?: CachedEntry,
    made = 0,
  ): Promise<CachedEntry> {
    const { credential, tenantId, scopes, claims } = request;
    for (let attempt = made; ; attempt++) {
      if (this.shutdown.aborted) throw this.shutdown.reason as Error;
      try {
        const requestedAt = Date.now();
        const named = this.refused.tokenOf(key) ?? renews?.token;
        let { issued, index } = await credential.fetch(tenantId, scopes, claims, named);
        // Refused while this request was under way, and answered with that same token (an
        // endpoint's cache): asked once more, naming it, rather than made current again.
        const refused = this.refused.tokenOf(key);
        if (refused !== undefined && refused !== named && issued.token === refused) {
          ({ issued, index } = await credential.fetch(tenantId, scopes, claims, refused));
        }
        const stored = storedTokenOf(
          issued,
          request,
          index,
          requestedAt,
          this.options.refresh,
          renews,
        );
        // Under the certificate the token is bound to, which may have rotated since. (Built only
        // for a store: a key per token request is work for nothing without one.)
        // None (''), kept in memory only, when nothing tells the principal's tokens apart yet.
        const storeKey = this.cache.hasStore
          ? (credential.storeKeys(tenantId, request.scopeKey, issued.certificateThumbprint)[
              index
            ] ?? '')
          : '';
        const entry = await this.cache.write(request, storeKey, stored);
        this.metrics.remainingLifetime(credential.name, issued.expiresOn, 'authority', trigger);
        this.onCurrent(entry);
        return entry;
      } catch (e) {
        const error = e as ClientCredentialsError;
        const delay = backoffDelay(attempt, this.options.retry, error.retryAfterMs);
        if (!error.transient || attempt + 1 >= attempts || now() + delay >= deadline) throw error;
        this.logger.debug?.(`${error.message} Retrying in ${Math.round(delay)} ms.`);
        await sleep(delay, this.shutdown);
        // Another replica may have stored the token while this one waited to retry.
        const stored = await this.fromStore(request, key, trigger);
        if (stored !== undefined) return stored.entry;
      }
    }
  }
}

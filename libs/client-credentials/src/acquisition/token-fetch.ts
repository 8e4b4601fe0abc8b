import type { LoggerService } from '@nestjs/common';
import type { AccessToken } from '../access-token';
import { storedTokenOf } from '../cache/issued-token';
import type { CachedEntry, TokenCache } from '../cache/token-cache';
import type { TokenRequest } from '../credentials/token-request';
import {
  TokenEndpointError,
  type ClientCredentialsError,
} from '../errors/client-credentials.errors';
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
 * The same name for the same token in every replica (the store key of its first source that has
 * one); undefined while its principal has no store keys (see `Principal.storeKeys`): no lock then.
 */
export function lockNameOf(request: TokenRequest): string | undefined {
  return request.credential.storeKeys(request.tenantId, request.scopeKey).find((k) => k !== '');
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
   * API refused, nor one older than it — judged once the store has answered, and again as it is
   * made current: an API may refuse the token while the read is under way (another replica that
   * got it back unchanged from an endpoint's cache may have stored it again).
   */
  async fromStore(
    request: TokenRequest,
    key: string,
    trigger: Trigger,
    accept?: (entry: CachedEntry) => boolean,
  ): Promise<Acquired | undefined> {
    const usable = (e: CachedEntry) => {
      const check = this.refused.filter(key, accept);
      return check === undefined || check(e);
    };
    const stored = await this.cache.read(request, usable);
    // (A read of several stores awaits its copy into the upper ones after judging the token.)
    if (stored === undefined || !usable(stored)) return undefined;
    // A caller's miss answered by the store; a refresh that adopts counts as a refresh (its flight's).
    if (trigger === 'caller') request.credential.stats.storeHits++;
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

  /** Resolves once the store write of a token {@link fetch} got is over (never rejects). */
  stored(entry: CachedEntry): Promise<void> {
    return this.cache.stored(entry);
  }

  /**
   * Token requests until one succeeds, a failure is not transient, or time or attempts run out.
   * The token this request replaces is named to the source — a managed identity endpoint, which
   * caches tokens, would otherwise answer with that same token: the one a background refresh
   * `renews` (the endpoint's latest: a refused token it replaced is older, and naming that one
   * would get the renewed token back), else the one an API refused (a caller's replacement). A
   * token refused while the request was under way, and answered, is asked for once more, naming it.
   * An endpoint that cannot be told (IMDS) may still answer with the token renewed: it is then
   * refreshed again once the endpoint mints ({@link afterEndpointCache}), not at half the time it
   * has left — unless an API refused it meanwhile: a refresh never makes a refused token current
   * again (`refused_token_reissued`; the next caller asks, naming it, by the callers' rules).
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
        const named = renews?.token ?? this.refused.tokenOf(key);
        let { issued, index } = await credential.fetch(tenantId, scopes, claims, named);
        // Refused while this request was under way, and answered with that same token (an
        // endpoint's cache): asked once more, naming it, rather than made current again.
        let refused = this.refused.tokenOf(key);
        if (refused !== undefined && refused !== named && issued.token === refused) {
          ({ issued, index } = await credential.fetch(tenantId, scopes, claims, refused));
          refused = this.refused.tokenOf(key);
        }
        // Still that token (an endpoint that cannot be told, IMDS): a refresh leaves memory and the
        // store without it. (A caller's flight takes it: a replacement refused at once is held off.)
        if (trigger === 'refresh' && refused !== undefined && issued.token === refused) {
          throw new TokenEndpointError(
            'refused_token_reissued',
            `The background refresh of credential '${credential.name}' got back the token an API refused while it ran.`,
            { credential: credential.name, tenantId },
            true,
          );
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
        // The caller goes on with its token while the store write finishes (bounded) in the
        // background: a Redis that hangs must not cost it one more command's time. The shared
        // lock is released only after it (see `stored`), so the waiters find the token.
        const entry = this.cache.keep(request, storeKey, stored);
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

import type { LoggerService } from '@nestjs/common';
import { AccessToken } from '../access-token';
import { backoffDelay, sleep } from '../timing/backoff';
import { storedTokenOf } from '../cache/issued-token';
import { CoolDowns } from './cool-downs';
import { ClientCredentialsError, TokenEndpointError } from '../errors/client-credentials.errors';
import { now, toWallClock } from '../timing/clock';
import { withDeadline } from '../timing/timers';
import type { TokenPolicy } from '../options/resolved-options';
import { abortedBy, waitAsCaller } from './caller-wait';
import { RefusedTokens } from './refused-tokens';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
import { RefreshHeld } from '../shared-cache/refresh-held';
import type { CachedEntry, TokenCache } from '../cache/token-cache';
import { eventTarget, requestKey, type TokenRequest } from '../credentials/token-request';
import { eventError } from '../observability/token-events';
import { TokenMetrics } from '../observability/token-metrics';

/** Why a token is being obtained: a caller waits for it, or the background refresh. */
type Trigger = 'caller' | 'refresh';

/** The result of one acquisition, shared by every caller that waited for it. */
interface Acquired {
  readonly entry: CachedEntry;
  readonly token: AccessToken;
  /** Adopted from the store: a token another replica (or an earlier run) had obtained. */
  readonly adopted?: boolean;
}

/**
 * Where a token is fetched: for a caller that found none in memory, and for background refresh.
 * - single flight: concurrent callers of one token share one acquisition;
 * - the store first (a token another replica or an earlier run cached), then the authority;
 * - with a shared cache, single flight across replicas too: one fetches, the others wait for its
 *   token in Redis (`flight`);
 * - transient failures retried with backoff and Retry-After, within `timeouts.acquireMs`;
 * - after a failure, a cool-down during which callers fail fast instead of storming the authority;
 * - one deadline per flight (`timeouts.acquireMs`) that bounds whatever it awaits — a store, a
 *   client assertion callback, another replica's lock — so that nothing that never answers can
 *   hold a token, and every caller and refresh that joins it, for longer.
 */
export class TokenAcquirer {
  private readonly flights = new Map<string, Promise<Acquired>>();
  private readonly refused: RefusedTokens;
  private readonly coolDowns: CoolDowns;
  private readonly shutdown = new AbortController();
  /** Called with every entry that becomes current, to schedule its refresh. */
  onCurrent: (entry: CachedEntry) => void = () => undefined;

  constructor(
    private readonly cache: TokenCache,
    private readonly options: TokenPolicy,
    private readonly logger: LoggerService,
    private readonly flight?: CrossProcessFlight,
    /** Where failures, refusals and remaining lifetimes are reported. */
    private readonly metrics: TokenMetrics = new TokenMetrics(),
  ) {
    this.coolDowns = new CoolDowns(options.retry, options.maxEntries);
    this.refused = new RefusedTokens(options.maxEntries);
  }

  /** A token for a caller with nothing usable in memory; `force` skips the store. */
  async acquire(request: TokenRequest, force: boolean, signal?: AbortSignal): Promise<AccessToken> {
    // A caller that gave up already starts nothing.
    if (signal?.aborted) throw abortedBy(request);
    const key = requestKey(request);
    const flightKey = force ? `${key}\nforce` : key;
    let flight = this.flights.get(flightKey);
    if (flight === undefined) {
      const deadline = now() + this.options.timeouts.acquireMs;
      flight = this.bounded(
        this.load(request, key, force, deadline),
        request,
        key,
        'caller',
      ).finally(() => this.flights.delete(flightKey));
      // A flight outlives callers that stop waiting (abort, timeout): its failure is theirs to
      // see, never an unhandled rejection that would end the process.
      flight.catch(() => undefined);
      this.flights.set(flightKey, flight);
    }
    try {
      return (await waitAsCaller(flight, request, this.options.timeouts.acquireMs, signal)).token;
    } catch (e) {
      // The flight joined was a background refresh, which waits for Redis (RefreshHeld): this
      // caller, who has no token to wait with, gets one now in a flight of its own.
      if (!(e instanceof RefreshHeld) || this.flights.get(flightKey) === flight) throw e;
      return this.acquire(request, force, signal);
    }
  }

  /**
   * A token to replace `refused`, which an API refused (401 `invalid_token`): the same single
   * flight as a caller's miss — concurrent callers of the refused token, and with a shared cache
   * the replicas, share one token request — but neither memory nor any store may answer with the
   * refused token, nor with a token older than it. A replacement another replica already stored is
   * adopted without a request. Undefined while `refused` is itself a replacement refused at once
   * (see {@link RefusedTokens}): no new token would help; the caller keeps the API's answer.
   */
  async replace(
    request: TokenRequest,
    refused: string,
    signal?: AbortSignal,
  ): Promise<AccessToken | undefined> {
    if (!this.forget(request, refused)) return undefined;
    let token = await this.acquire(request, false, signal);
    // A caller that joined a flight started before the refusal was known: go once more.
    if (token.token === refused) token = await this.acquire(request, false, signal);
    this.refused.replacedBy(requestKey(request), token.token);
    return token;
  }

  /**
   * Records that an API refused `token` for `request`: memory stops serving it at once (the next
   * caller misses and gets a new token), and no store read answers with it again. False (nothing
   * done) while the token is a replacement that was refused at once, within its hold-off.
   */
  forget(
    request: TokenRequest,
    token: string,
    revokedBefore?: number,
    by: 'api' | 'authority' = 'api',
  ): boolean {
    const key = requestKey(request);
    const current = this.cache.entryOf(request);
    const known = current?.token === token ? current : undefined;
    const may = this.refused.mayRefuse(key, token, known, revokedBefore);
    const { events } = this.metrics;
    if (events.wants('token-refused')) {
      const at = new Date();
      events.emit({ type: 'token-refused', at, ...eventTarget(request), by, heldOff: !may });
    }
    if (!may) return false;
    this.refused.add(key, token, known, revokedBefore);
    // Served no more: an entry that stops being usable now, in the refused one's place.
    if (known !== undefined) this.cache.adopt(known.withdrawn());
    return true;
  }

  /**
   * Replaces `current` with a newer token: adopted from the store when another replica already
   * refreshed it, else fetched with one request. Throws on failure; the refresher decides when to
   * retry. Throws `RefreshHeld`, without a request, while the shared cache cannot be used and the
   * token has time to spare: the replicas refresh it together once Redis is back, one for all.
   */
  async refresh(current: CachedEntry): Promise<CachedEntry> {
    return (await this.refreshed(current)).entry;
  }

  /** {@link refresh}, and whether the newer token was adopted from the store (another replica's). */
  async refreshed(current: CachedEntry): Promise<{ entry: CachedEntry; adopted: boolean }> {
    const request = current.request;
    const key = requestKey(request);
    // A caller's flight under way may bring a newer token; it may also answer with `current`
    // itself (a caller that found it in memory): then this refresh is still to be done.
    const joined = this.flights.get(key);
    if (joined !== undefined) {
      const { entry, adopted } = await joined;
      if (entry.obtainedAt > current.obtainedAt) return { entry, adopted: adopted === true };
    }
    let flight = this.flights.get(key);
    if (flight === undefined) {
      const deadline = now() + this.options.timeouts.acquireMs;
      // A newer token, or this one stored again with a later refresh point: another replica's
      // refresh got it back unchanged (an endpoint's cache) and learned when to ask again.
      const newer = (e: CachedEntry) =>
        (e.expiresOn > current.expiresOn ||
          (e.token === current.token &&
            (e.hit.refreshOnTimestamp ?? 0) > (current.hit.refreshOnTimestamp ?? 0))) &&
        now() < e.refreshAt;
      const fetch = async (): Promise<Acquired> => {
        try {
          const entry = await this.fetch(request, key, deadline, 1, 'refresh', current);
          this.coolDowns.end(key);
          request.credential.stats.refreshes++;
          return { entry, token: entry.hit };
        } catch (e) {
          // Callers that join this flight, or miss once the token is gone, fail fast as after any failure.
          throw this.coolDowns.start(key, e as ClientCredentialsError);
        }
      };
      const work = (async (): Promise<Acquired> => {
        const stored = await this.fromStore(request, key, 'refresh', newer);
        if (stored !== undefined) return stored;
        // Replicas that adopted the same shared token refresh it at the same time: one fetches.
        return this.flight === undefined
          ? fetch()
          : this.flight.run(
              this.lockName(request),
              () => this.fromStore(request, key, 'refresh', newer),
              fetch,
              this.shutdown.signal,
              // Keep a margin to fetch in, before the token stops being served and before the
              // flight's deadline.
              Math.min(
                current.usableUntil - this.options.timeouts.requestMs,
                this.waitUntil(deadline),
              ),
              // While Redis cannot be used, wait for it rather than each replica fetching: until
              // halfway from the refresh point to the end of use, the token has time to spare.
              current.refreshAt + (current.usableUntil - current.refreshAt) / 2,
            );
      })();
      flight = this.bounded(work, request, key, 'refresh').finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    const { entry, adopted } = await flight;
    return { entry, adopted: adopted === true };
  }

  /** Stops retries and waits no more. */
  close(): void {
    this.shutdown.abort(
      new ClientCredentialsError('shutdown', 'The token service is shutting down.'),
    );
  }

  /**
   * `work`, bounded by the flight's deadline: past it the flight fails `timeout` (and the token
   * cools down, so that the callers of a token whose acquisition hangs fail fast for a moment
   * rather than each waiting out a deadline); the work is abandoned, and the next call starts a
   * new flight. A token the abandoned work still obtains is cached as any other.
   */
  private bounded(
    work: Promise<Acquired>,
    request: TokenRequest,
    key: string,
    trigger: Trigger,
  ): Promise<Acquired> {
    const ms = this.options.timeouts.acquireMs;
    return withDeadline(work, ms, () =>
      this.failed(
        request,
        key,
        trigger,
        new TokenEndpointError(
          'timeout',
          // As a caller's own wait says it (both end at acquireMs): the cause is in the logs of
          // what was slow, whatever it was — the network, a store, a callback of the app's.
          `No token for credential '${request.credential.name}' within ${ms} ms.`,
          { credential: request.credential.name, tenantId: request.tenantId },
          true,
        ),
      ),
    );
  }

  /**
   * Until when a replica waits for another replica's token before it fetches one itself: early
   * enough to fetch before `deadline` (one request's time), not at the deadline itself.
   */
  private waitUntil(deadline: number): number {
    const { requestMs, acquireMs } = this.options.timeouts;
    return deadline - Math.min(requestMs, acquireMs / 2);
  }

  private async load(
    request: TokenRequest,
    key: string,
    force: boolean,
    deadline: number,
  ): Promise<Acquired> {
    if (!force) {
      // A usable token in memory that the caller's lookup did not find (the same scopes asked
      // for another way): served, never fetched again.
      const current = this.cache.entryOf(request);
      const usable = this.refused.filter(key, (e) => now() < e.usableUntil);
      if (current !== undefined && (usable === undefined || usable(current))) {
        return { entry: current, token: current.hit };
      }
    }
    // The store first, even in a cool-down: another replica may have fetched the token since.
    const stored = force ? undefined : await this.fromStore(request, key, 'caller');
    if (stored !== undefined) return stored;
    const cooling = this.coolDowns.current(key);
    if (cooling !== undefined) throw cooling;
    if (force) return this.fetchForCaller(request, key, deadline);
    return this.flight === undefined
      ? this.fetchForCaller(request, key, deadline)
      : this.flight.run(
          this.lockName(request),
          () => this.fromStore(request, key, 'caller'),
          () => this.fetchForCaller(request, key, deadline),
          this.shutdown.signal,
          this.waitUntil(deadline),
        );
  }

  /**
   * A usable token of the store (another replica's, an earlier run's), made current; never one an
   * API refused, nor one older than it.
   */
  private async fromStore(
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
    request.credential.recordSuccess(request.tenantId, stored.expiresOn, stored.token);
    this.cache.adopt(stored);
    this.onCurrent(stored);
    return { entry: stored, token: stored.hit, adopted: true };
  }

  /** The same name for the same token in every replica (the store key of its first source). */
  private lockName(request: TokenRequest): string {
    return request.credential.storeKeys(request.tenantId, request.scopeKey)[0];
  }

  /** Token requests for a waiting caller, with retries; a failure starts a cool-down. */
  private async fetchForCaller(
    request: TokenRequest,
    key: string,
    deadline: number,
  ): Promise<Acquired> {
    try {
      const entry = await this.fetch(
        request,
        key,
        deadline,
        this.options.retry.maxAttempts,
        'caller',
      );
      this.coolDowns.end(key);
      const h = entry.hit;
      const token = new AccessToken(
        h.token,
        h.tokenType,
        h.expiresOnTimestamp,
        h.refreshOnTimestamp,
        h.scopes,
        h.credential,
        'network',
        h.certificateThumbprint,
      );
      return { entry, token };
    } catch (e) {
      throw this.failed(request, key, 'caller', e as ClientCredentialsError);
    }
  }

  /**
   * Starts the cool-down of a failed acquisition; returns its error, for `throw`. A caller's
   * failure is an event (`failure`); a background refresh's is the refresher's to tell.
   */
  private failed(
    request: TokenRequest,
    key: string,
    trigger: Trigger,
    error: ClientCredentialsError,
  ): ClientCredentialsError {
    this.coolDowns.start(key, error);
    const { events } = this.metrics;
    if (trigger === 'caller' && events.wants('failure')) {
      const until = this.coolDowns.until(key);
      events.emit({
        type: 'failure',
        at: new Date(),
        ...eventTarget(request),
        error: eventError(error),
        ...(until === undefined ? {} : { coolDownUntil: new Date(toWallClock(until)) }),
      });
    }
    return error;
  }

  /**
   * Token requests until one succeeds, a failure is not transient, or time or attempts run out.
   * The token this request replaces is named to the source — a managed identity endpoint, which
   * caches tokens, would otherwise answer with that same token: one an API refused (by a caller's
   * replacement, and by a background refresh that was already under way when the refusal came),
   * else the one a background refresh `renews`. An endpoint that cannot be told (IMDS) may still
   * answer with the token renewed: it is then refreshed again once the endpoint mints
   * ({@link afterEndpointCache}), not at half the time it has left.
   */
  private async fetch(
    request: TokenRequest,
    key: string,
    deadline: number,
    attempts: number,
    trigger: Trigger,
    renews?: CachedEntry,
  ): Promise<CachedEntry> {
    const { credential, tenantId, scopes, claims } = request;
    for (let attempt = 0; ; attempt++) {
      if (this.shutdown.signal.aborted) throw this.shutdown.signal.reason as Error;
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
        const storeKey = this.cache.hasStore
          ? credential.storeKeys(tenantId, request.scopeKey, issued.certificateThumbprint)[index]
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
        await sleep(delay, this.shutdown.signal);
        // Another replica may have stored the token while this one waited to retry.
        const stored = await this.fromStore(request, key, trigger);
        if (stored !== undefined) return stored.entry;
      }
    }
  }
}

import type { LoggerService } from '@nestjs/common';
import type { AccessToken } from '../access-token';
import { CoolDowns } from './cool-downs';
import { ClientCredentialsError, TokenEndpointError } from '../errors/client-credentials.errors';
import { now, toWallClock } from '../timing/clock';
import { withDeadline } from '../timing/timers';
import type { TokenPolicy } from '../options/resolved-options';
import { abortedBy, waitAsCaller } from './caller-wait';
import { RefusedTokens } from './refused-tokens';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
import type { CachedEntry, TokenCache } from '../cache/token-cache';
import { eventTarget, requestKey, type TokenRequest } from '../credentials/token-request';
import { eventError } from '../observability/token-events';
import { TokenMetrics } from '../observability/token-metrics';
import { callerWork } from './caller-flight';
import { refreshWork } from './refresh-flight';
import { reportOnce, type Flight } from './flight';
import { TokenFetch, type Acquired } from './token-fetch';

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
 * Where a flight's token comes from (the store, the authority with retries) is {@link TokenFetch};
 * a caller's flight's work is {@link callerWork}, a background refresh's {@link refreshWork}.
 */
export class TokenAcquirer {
  private readonly flights = new Map<string, Flight>();
  private readonly refused: RefusedTokens;
  private readonly coolDowns: CoolDowns;
  private readonly shutdown = new AbortController();
  private readonly fetcher: TokenFetch;
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
    this.fetcher = new TokenFetch(
      cache,
      options,
      logger,
      this.refused,
      metrics,
      this.shutdown.signal,
      (entry) => this.onCurrent(entry),
    );
  }

  /**
   * A token for a caller with nothing usable in memory; `force` skips the store. A caller joins
   * the caller flight of its token under way; a background refresh under way it rides in a flight
   * of its own (see {@link callerWork}): it shares the refresh's request, and on its failure goes
   * on with the attempts and the time it has left, as if no refresh had been running.
   */
  acquire(request: TokenRequest, force: boolean, signal?: AbortSignal): Promise<AccessToken> {
    return this.acquireBy(request, force, now() + this.options.timeouts.acquireMs, signal);
  }

  /** {@link acquire} for a caller that waits no later than `deadline` (the library's clock). */
  private async acquireBy(
    request: TokenRequest,
    force: boolean,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<AccessToken> {
    // A caller that gave up already starts nothing.
    if (signal?.aborted) throw abortedBy(request);
    const key = requestKey(request);
    const flightKey = force ? `${key}\nforce` : key;
    let flight = this.flights.get(flightKey);
    if (flight?.trigger !== 'caller') flight = this.callerFlight(request, key, force, flight);
    const { acquireMs } = this.options.timeouts;
    return (await waitAsCaller(flight.promise, request, deadline - now(), signal, acquireMs)).token;
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
    // One wait for the caller, however many flights it takes (`acquireMs`: the longest it waits).
    const deadline = now() + this.options.timeouts.acquireMs;
    let token = await this.acquireBy(request, false, deadline, signal);
    // A caller that joined a flight started before the refusal was known: go once more.
    if (token.token === refused) token = await this.acquireBy(request, false, deadline, signal);
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
    // itself (a caller that found it in memory): then this refresh is still to be done — and
    // another caller's flight may have started meanwhile, which is looked at the same way.
    for (;;) {
      const flight = this.flights.get(key) ?? this.refreshFlight(current, key);
      const { entry, adopted } = await flight.promise;
      if (flight.trigger === 'refresh' || entry.obtainedAt > current.obtainedAt) {
        return { entry, adopted: adopted === true };
      }
    }
  }

  /** Stops retries and waits no more. */
  close(): void {
    this.shutdown.abort(
      new ClientCredentialsError('shutdown', 'The token service is shutting down.'),
    );
  }

  /**
   * Starts the caller flight of a token, kept under `request`'s key (`force`: apart from plain
   * ones). It rides `refresh`, a background refresh under way, if any: the caller flight takes its
   * place under the key, and callers that come next join the caller flight.
   */
  private callerFlight(
    request: TokenRequest,
    key: string,
    force: boolean,
    refresh: Flight | undefined,
  ): Flight {
    const flightKey = force ? `${key}\nforce` : key;
    const deadline = now() + this.options.timeouts.acquireMs;
    const failed = reportOnce((error) => this.failed(request, key, error));
    if (refresh !== undefined) refresh.ridden = true;
    const work = callerWork(request, key, force, deadline, this.waitUntil(deadline), {
      cache: this.cache,
      refused: this.refused,
      fetch: this.fetcher,
      coolDowns: this.coolDowns,
      flight: this.flight,
      shutdown: this.shutdown.signal,
      maxAttempts: this.options.retry.maxAttempts,
      retry: this.options.retry,
      failed,
      riding: refresh?.promise,
    });
    return this.keep(flightKey, 'caller', this.bounded(work, request, failed));
  }

  /** Starts the background refresh of `current`, kept under its key. */
  private refreshFlight(current: CachedEntry, key: string): Flight {
    const request = current.request;
    const deadline = now() + this.options.timeouts.acquireMs;
    // Its one attempt failing is the refresher's to retry, while memory serves the token: no
    // cool-down then — callers are served, and one that misses (a forced call, a claims request)
    // gets its own attempts. Nor when a caller rides it: that caller flight goes on, and its own
    // failure, if it comes to that, starts the cool-down. Nor when its answer was a token an API
    // refused meanwhile: the authority did not fail, and the next caller's request names that token.
    const failed = reportOnce((error) => {
      const cools = !flight.ridden && error.code !== 'refused_token_reissued';
      if (cools && !this.served(request, key)) this.coolDowns.start(key, error);
      return error;
    });
    const work = refreshWork(current, key, deadline, this.waitUntil(deadline), {
      fetch: this.fetcher,
      coolDowns: this.coolDowns,
      flight: this.flight,
      shutdown: this.shutdown.signal,
      requestMs: this.options.timeouts.requestMs,
      failed,
    });
    const flight = this.keep(key, 'refresh', this.bounded(work, request, failed));
    return flight;
  }

  /**
   * Keeps a flight under `flightKey` until it settles (or reaches its deadline): the next call
   * under its key then starts another. A flight outlives callers that stop waiting (abort,
   * timeout) and is ridden by callers that see its failure in their own flights: its failure is
   * theirs, never an unhandled rejection that would end the process.
   */
  private keep(flightKey: string, trigger: Flight['trigger'], work: Promise<Acquired>): Flight {
    const flight: Flight = {
      trigger,
      promise: work.finally(() => {
        if (this.flights.get(flightKey) === flight) this.flights.delete(flightKey);
      }),
      ridden: false,
    };
    flight.promise.catch(() => undefined);
    this.flights.set(flightKey, flight);
    return flight;
  }

  /** Whether memory serves a usable token for `request` (one no API refused). */
  private served(request: TokenRequest, key: string): boolean {
    const entry = this.cache.entryOf(request);
    const usable = this.refused.filter(key, (e) => now() < e.usableUntil);
    return entry !== undefined && (usable === undefined || usable(entry));
  }

  /**
   * `work`, bounded by the flight's deadline: past it the flight fails `timeout` (reported by
   * `failed`: a caller flight's token cools down, so that the callers of a token whose acquisition
   * hangs fail fast for a moment rather than each waiting out a deadline); the work is abandoned,
   * and the next call starts a new flight. A token the abandoned work still obtains is cached as
   * any other.
   */
  private bounded(
    work: Promise<Acquired>,
    request: TokenRequest,
    failed: (error: ClientCredentialsError) => ClientCredentialsError,
  ): Promise<Acquired> {
    const ms = this.options.timeouts.acquireMs;
    return withDeadline(work, ms, () =>
      failed(
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

  /**
   * Starts the cool-down of a caller flight that failed, and tells it (`failure`); returns its
   * error, for `throw`. A background refresh's failure is the refresher's to tell.
   */
  private failed(
    request: TokenRequest,
    key: string,
    error: ClientCredentialsError,
  ): ClientCredentialsError {
    this.coolDowns.start(key, error);
    const { events } = this.metrics;
    if (events.wants('failure')) {
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
}

import { AccessToken } from '../access-token';
import type { TokenCache } from '../cache/token-cache';
import type { TokenRequest } from '../credentials/token-request';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
import { RefreshHeld } from '../shared-cache/refresh-held';
import { backoffDelay, sleep, type BackoffPolicy } from '../timing/backoff';
import { now } from '../timing/clock';
import type { CoolDowns } from './cool-downs';
import type { RefusedTokens } from './refused-tokens';
import { lockNameOf, type Acquired, type TokenFetch } from './token-fetch';

/** What a caller's flight uses of its acquirer. */
export interface CallerParts {
  readonly cache: TokenCache;
  readonly refused: RefusedTokens;
  readonly fetch: TokenFetch;
  readonly coolDowns: CoolDowns;
  /** With a shared cache: single flight across replicas. */
  readonly flight?: CrossProcessFlight;
  /** Aborted when the service shuts down. */
  readonly shutdown: AbortSignal;
  /** Token requests a caller's flight may send (`retry.maxAttempts`). */
  readonly maxAttempts: number;
  /** The backoff between them (`retry`). */
  readonly retry: BackoffPolicy;
  /** Starts the token's cool-down after a failure, and tells it; returns the error, for `throw`. */
  readonly failed: (error: ClientCredentialsError) => ClientCredentialsError;
  /** A background refresh of the token under way when the flight started: its first attempt. */
  readonly riding?: Promise<Acquired>;
}

/**
 * The work of a caller's flight (its acquirer bounds it and keeps it as the token's flight): a
 * usable token in memory the caller's lookup did not find, else the store's, else — unless the
 * token is cooling down — token requests with retries; with a shared cache, one replica's for
 * all, the others adopting its token. `force` skips memory, the store and the shared flight.
 *
 * A background refresh under way (`riding`) is single flight too: its request (or its token of
 * the store) is this flight's first attempt, never a second request. Only if it fails does the
 * flight go on — after the backoff of a failed attempt, with the attempts and the time left —
 * as if it had sent that request itself; at once if its token is one an API refused meanwhile.
 * @param waitUntil until when a replica waits for another's token before it fetches its own
 */
export async function callerWork(
  request: TokenRequest,
  key: string,
  force: boolean,
  deadline: number,
  waitUntil: number,
  parts: CallerParts,
): Promise<Acquired> {
  const { cache, refused, fetch: fetcher, coolDowns, flight } = parts;
  if (!force) {
    // A usable token in memory that the caller's lookup did not find (the same scopes asked
    // for another way): served, never fetched again.
    const current = cache.entryOf(request);
    const usable = refused.filter(key, (e) => now() < e.usableUntil);
    if (current !== undefined && (usable === undefined || usable(current))) {
      return { entry: current, token: current.hit };
    }
  }
  const made =
    parts.riding === undefined ? 0 : await rideRefresh(parts.riding, key, deadline, parts);
  if (typeof made !== 'number') return made;
  // The store first, even in a cool-down: another replica may have fetched the token since.
  const stored = force ? undefined : await fetcher.fromStore(request, key, 'caller');
  if (stored !== undefined) return stored;
  const cooling = coolDowns.current(key);
  if (cooling !== undefined) throw cooling;
  // No lock for a token that has no store key: replicas could not share it.
  const lock = force || flight === undefined ? undefined : lockNameOf(request);
  if (flight === undefined || lock === undefined) {
    return fetchForCaller(request, key, deadline, made, parts);
  }
  try {
    return await flight.run(
      lock,
      () => fetcher.fromStore(request, key, 'caller'),
      () => fetchForCaller(request, key, deadline, made, parts),
      parts.shutdown,
      waitUntil,
      undefined,
      // The lock is released once the token is in the store; the caller does not wait for that.
      (acquired) => fetcher.stored(acquired.entry),
    );
  } catch (e) {
    // A waiter given the holder's failure (its sealed record) cools the token down as the holder
    // did — for what is left of the holder's Retry-After — and tells it: else, once the record
    // expires, each replica would ask again within the authority's pause. A failure of this
    // replica's own fetch was told already (`failed` tells a flight's failure once).
    throw parts.failed(e as ClientCredentialsError);
  }
}

/**
 * Waits for the background refresh a caller flight rides: its token (fetched: `network`; of the
 * store: as any token of the store), or the attempts it made (0 when it made none, held for
 * Redis) once the backoff after its failure has passed. Throws when a caller flight that sent that
 * request itself would give up: a failure that is not transient, no attempt or no time left.
 *
 * Its token passes the check memory and the store pass (judged once it has come: the refusal may
 * have come while the refresh ran): an API may have refused the very token the refresh renewed
 * and got back unchanged (an endpoint's cache), or adopted from a store read begun before the
 * refusal — or the refresh failed for that reason (`refused_token_reissued`: it took no such
 * token). That is one attempt made: the flight goes on at once, naming the refused token.
 */
async function rideRefresh(
  riding: Promise<Acquired>,
  key: string,
  deadline: number,
  { maxAttempts, retry, failed, shutdown, refused }: CallerParts,
): Promise<Acquired | number> {
  let error: ClientCredentialsError;
  try {
    const acquired = await riding;
    const usable = refused.filter(key);
    if (usable !== undefined && !usable(acquired.entry)) return 1;
    return acquired.adopted === true
      ? acquired
      : { entry: acquired.entry, token: fetched(acquired.entry.hit) };
  } catch (e) {
    // Held for Redis, the refresh sent nothing: the caller's flight fetches for itself.
    if (e instanceof RefreshHeld) return 0;
    error = e as ClientCredentialsError;
    // The refresh got back a token refused meanwhile (see `TokenFetch.fetch`): asked at once.
    if (error.code === 'refused_token_reissued') return 1;
  }
  const delay = backoffDelay(0, retry, error.retryAfterMs);
  if (!error.transient || maxAttempts <= 1 || now() + delay >= deadline) throw failed(error);
  await sleep(delay, shutdown);
  return 1;
}

/** Token requests for a waiting caller, with retries; a failure starts a cool-down. */
async function fetchForCaller(
  request: TokenRequest,
  key: string,
  deadline: number,
  made: number,
  { fetch: fetcher, coolDowns, maxAttempts, failed }: CallerParts,
): Promise<Acquired> {
  try {
    const entry = await fetcher.fetch(
      request,
      key,
      deadline,
      maxAttempts,
      'caller',
      undefined,
      made,
    );
    coolDowns.end(key);
    return { entry, token: fetched(entry.hit) };
  } catch (e) {
    throw failed(e as ClientCredentialsError);
  }
}

/** The token of a cache entry as its caller gets it once fetched: from the network. */
function fetched(h: AccessToken): AccessToken {
  return new AccessToken(
    h.token,
    h.tokenType,
    h.expiresOnTimestamp,
    h.refreshOnTimestamp,
    h.scopes,
    h.credential,
    'network',
    h.certificateThumbprint,
  );
}

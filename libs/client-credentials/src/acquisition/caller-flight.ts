import { AccessToken } from '../access-token';
import type { TokenCache } from '../cache/token-cache';
import type { TokenRequest } from '../credentials/token-request';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
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
  /** Starts the token's cool-down after a failure, and tells it; returns the error, for `throw`. */
  readonly failed: (error: ClientCredentialsError) => ClientCredentialsError;
}

/**
 * The work of a caller's flight (its acquirer bounds it and keeps it as the token's flight): a
 * usable token in memory the caller's lookup did not find, else the store's, else — unless the
 * token is cooling down — token requests with retries; with a shared cache, one replica's for
 * all, the others adopting its token. `force` skips memory, the store and the shared flight.
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
  // The store first, even in a cool-down: another replica may have fetched the token since.
  const stored = force ? undefined : await fetcher.fromStore(request, key, 'caller');
  if (stored !== undefined) return stored;
  const cooling = coolDowns.current(key);
  if (cooling !== undefined) throw cooling;
  // No lock for a token that has no store key: replicas could not share it.
  const lock = force || flight === undefined ? undefined : lockNameOf(request);
  return flight === undefined || lock === undefined
    ? fetchForCaller(request, key, deadline, parts)
    : flight.run(
        lock,
        () => fetcher.fromStore(request, key, 'caller'),
        () => fetchForCaller(request, key, deadline, parts),
        parts.shutdown,
        waitUntil,
      );
}

/** Token requests for a waiting caller, with retries; a failure starts a cool-down. */
async function fetchForCaller(
  request: TokenRequest,
  key: string,
  deadline: number,
  { fetch: fetcher, coolDowns, maxAttempts, failed }: CallerParts,
): Promise<Acquired> {
  try {
    const entry = await fetcher.fetch(request, key, deadline, maxAttempts, 'caller');
    coolDowns.end(key);
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
    throw failed(e as ClientCredentialsError);
  }
}

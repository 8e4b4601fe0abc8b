import type { CachedEntry } from '../cache/token-cache';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
import { RefreshHeld } from '../shared-cache/refresh-held';
import { now } from '../timing/clock';
import type { CoolDowns } from './cool-downs';
import { lockNameOf, type Acquired, type TokenFetch } from './token-fetch';

/** What a background refresh uses of its acquirer. */
export interface RefreshParts {
  readonly fetch: TokenFetch;
  readonly coolDowns: CoolDowns;
  /** With a shared cache: single flight across replicas. */
  readonly flight?: CrossProcessFlight;
  /** Aborted when the service shuts down. */
  readonly shutdown: AbortSignal;
  /** One token request's time (`timeouts.requestMs`). */
  readonly requestMs: number;
  /** Tells the acquirer of a failure (which may start a cool-down); returns it, for `throw`. */
  readonly failed: (error: ClientCredentialsError) => ClientCredentialsError;
}

/**
 * The work of a background refresh of `current` (its acquirer bounds it and keeps it as the
 * token's flight): a newer token of the store, else one request — with a shared cache, one
 * replica's for all, the others adopting its token. A failure is told to the acquirer (`failed`),
 * which decides whether it starts the token's cool-down. While Redis cannot be used and the token
 * has time to spare, it waits for Redis (`RefreshHeld`) rather than each replica fetching.
 * @param waitUntil until when a replica waits for another's token before it fetches its own
 */
export function refreshWork(
  current: CachedEntry,
  key: string,
  deadline: number,
  waitUntil: number,
  { fetch: fetcher, coolDowns, flight, shutdown, requestMs, failed }: RefreshParts,
): Promise<Acquired> {
  const request = current.request;
  // A newer token, or this one stored again with a later refresh point: another replica's
  // refresh got it back unchanged (an endpoint's cache) and learned when to ask again.
  const newer = (e: CachedEntry) =>
    (e.expiresOn > current.expiresOn ||
      (e.token === current.token &&
        (e.hit.refreshOnTimestamp ?? 0) > (current.hit.refreshOnTimestamp ?? 0))) &&
    now() < e.refreshAt;
  const fetch = async (): Promise<Acquired> => {
    try {
      const entry = await fetcher.fetch(request, key, deadline, 1, 'refresh', current);
      coolDowns.end(key);
      request.credential.stats.refreshes++;
      return { entry, token: entry.hit };
    } catch (e) {
      throw failed(e as ClientCredentialsError);
    }
  };
  // Another replica's token adopted is a refresh done as well (not a caller's miss).
  const adopt = async (): Promise<Acquired | undefined> => {
    const stored = await fetcher.fromStore(request, key, 'refresh', newer);
    if (stored !== undefined) request.credential.stats.refreshes++;
    return stored;
  };
  return (async (): Promise<Acquired> => {
    const stored = await adopt();
    if (stored !== undefined) return stored;
    // Replicas that adopted the same shared token refresh it at the same time: one fetches (a
    // token that has no store key is this process's alone: no lock).
    const lock = flight === undefined ? undefined : lockNameOf(request);
    if (flight === undefined || lock === undefined) return fetch();
    try {
      return await flight.run(
        lock,
        adopt,
        fetch,
        shutdown,
        // Keep a margin to fetch in, before the token stops being served and before the
        // flight's deadline.
        Math.min(current.usableUntil - requestMs, waitUntil),
        // While Redis cannot be used, wait for it rather than each replica fetching: until
        // halfway from the refresh point to the end of use, the token has time to spare.
        current.refreshAt + (current.usableUntil - current.refreshAt) / 2,
        (acquired) => fetcher.stored(acquired.entry),
      );
    } catch (e) {
      // Held for Redis: nothing failed. Another replica's failure (its sealed record) is told as
      // this refresh's own: the same rule decides whether it cools the token down.
      if (e instanceof RefreshHeld) throw e;
      throw failed(e as ClientCredentialsError);
    }
  })();
}

import { MIN_REFRESH_FRACTION } from '../options/defaults';
import type { ResolvedOptions } from '../options/resolved-options';

/**
 * When to refresh a token obtained at `obtainedAt` (epoch ms) that expires at `expiresOn`: the
 * authority's `refresh_in` (`suggested`) when it lies within the lifetime, else `refreshAt` of the
 * lifetime; spread by ±`jitter` of the lifetime so that tokens and replicas do not refresh together;
 * never before {@link MIN_REFRESH_FRACTION} of the lifetime, whatever the authority says (a refresh
 * point at the token's birth would make every token in use a request per second), nor after expiry.
 */
export function refreshPoint(
  obtainedAt: number,
  expiresOn: number,
  suggested: number | undefined,
  policy: Pick<ResolvedOptions['refresh'], 'refreshAt' | 'jitter'>,
): number {
  const { refreshAt, jitter } = policy;
  const lifetime = expiresOn - obtainedAt;
  const fromAuthority = suggested !== undefined && suggested > obtainedAt && suggested < expiresOn;
  const base = fromAuthority ? suggested : obtainedAt + lifetime * refreshAt;
  const spread = (Math.random() * 2 - 1) * lifetime * jitter;
  const earliest = obtainedAt + lifetime * MIN_REFRESH_FRACTION;
  return Math.min(expiresOn, Math.max(earliest, base + spread));
}

/**
 * How long before expiry a managed identity endpoint hands out a new token instead of its cached
 * one, as this library expects it: 5 minutes, the margin within which MSAL's own caches stop serving
 * a token (a twelfth of the lifetime for tokens shorter than an hour, as tests issue). Azure documents
 * that these endpoints cache a token per resource (for around 24 hours, the tokens' lifetime) and
 * ask Entra ID again only once the cached one is expired or nearly so; not the exact margin.
 */
export const ENDPOINT_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * When to refresh again a token that a background refresh got back unchanged: the endpoint (a
 * managed identity's) answers from its cache until the token nears its end, so asking at half the
 * time left, as for a new token, would ask again and again for the same token (about 8 requests a
 * day for a 24 h token). The next attempt is once the endpoint mints again — from
 * {@link ENDPOINT_REFRESH_MARGIN_MS} before expiry, spread over a quarter of what is left until the
 * token stops being served (`skewMs` before expiry) — never after that. Already past that point (the
 * endpoint keeps its token longer than expected): half the time left, never less than a second.
 * Times in wall-clock ms; `obtainedAt` is when the token was first obtained.
 */
export function afterEndpointCache(
  obtainedAt: number,
  expiresOn: number,
  time: number,
  skewMs: number,
): number {
  const lifetime = expiresOn - obtainedAt;
  const usableEnd = expiresOn - Math.min(skewMs, lifetime / 4);
  const minted = expiresOn - Math.min(ENDPOINT_REFRESH_MARGIN_MS, lifetime / 12);
  if (minted > time && minted < usableEnd) {
    return minted + (Math.random() * (usableEnd - minted)) / 4;
  }
  return Math.min(usableEnd, time + Math.max(1000, (usableEnd - time) / 2));
}

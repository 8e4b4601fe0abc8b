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

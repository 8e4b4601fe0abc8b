import type { IssuedToken } from '../authority/source-client';
import type { TokenRequest } from '../credentials/token-request';
import type { ResolvedOptions } from '../options/resolved-options';
import type { CachedEntry, StoredToken } from './cached-entry';
import { afterEndpointCache, refreshPoint } from './refresh-point';

/**
 * The stored form of a token the authority just issued for `request` (by source `index` of its
 * credential, asked at `requestedAt`, wall-clock ms), with its refresh point. When a background
 * refresh of `renews` got that same token back (a managed identity endpoint's cache), the token is
 * as old as it was, and due again once the endpoint mints ({@link afterEndpointCache}), not at half
 * of what is left.
 */
export function storedTokenOf(
  issued: IssuedToken,
  request: TokenRequest,
  index: number,
  requestedAt: number,
  refresh: ResolvedOptions['refresh'],
  renews?: CachedEntry,
): StoredToken {
  const { credential, scopes, tenantId } = request;
  const unchanged = renews !== undefined && issued.token === renews.token;
  const obtainedAt = unchanged ? renews.obtainedAt : requestedAt;
  return {
    v: 1,
    token: issued.token,
    tokenType: /^bearer$/i.test(issued.tokenType) ? 'Bearer' : issued.tokenType,
    obtainedAt,
    expiresOn: issued.expiresOn,
    refreshOn: unchanged
      ? afterEndpointCache(
          obtainedAt,
          issued.expiresOn,
          Date.now(),
          refresh.expirySkewSeconds * 1000,
        )
      : refreshPoint(obtainedAt, issued.expiresOn, issued.refreshOn, refresh),
    scopes,
    tenantId,
    source: credential.sourceId(index),
    ...(issued.certificateThumbprint === undefined
      ? {}
      : { certificateThumbprint: issued.certificateThumbprint }),
    ...(credential.subject === undefined ? {} : { subject: credential.subject }),
  };
}

import { createHash } from 'node:crypto';
import type { ManagedIdentityRecord, ResourceRecord } from './directory';

/**
 * How long before its expiry a cached token stops being handed out (seconds), unless a tenant's
 * lifetime policy says otherwise (`setAccessTokenLifetime(…, { identityCacheMarginSeconds })`):
 * msal-node never serves a token with 5 minutes or less left from its own cache, so an endpoint
 * that did would only cause a request per call. Tokens no longer-lived than the margin (most tests')
 * are never cached.
 */
export const IDENTITY_CACHE_MARGIN_SECONDS = 300;

/** A token the endpoint handed out, kept to answer the identity's next requests with. */
export interface CachedIdentityToken {
  readonly token: string;
  /** Epoch seconds. */
  readonly issuedAt: number;
  /** Epoch seconds. */
  readonly expiresOn: number;
  /** Lower-case hex SHA-256 of the token: its name in `token_sha256_to_refresh`. */
  readonly sha256: string;
}

/**
 * The token cache of a managed identity endpoint (App Service's, IMDS, the Arc agent's), per
 * identity and resource. Azure's answer a repeat request with the token they handed out before —
 * "the back-end services for managed identities maintain a cache per resource URI for around 24
 * hours", and call Entra ID only when there is none or it is expired (Microsoft Learn, "Managed
 * identity best practice recommendations", "How to use managed identities … to acquire an access
 * token: Token caching") — even after Entra revoked it. App Service (and Service Fabric) mint anew
 * for a request naming the cached token in `token_sha256_to_refresh`; IMDS and Arc have no such
 * parameter.
 */
export class IdentityTokenCache {
  private readonly tokens = new Map<string, CachedIdentityToken>();

  /**
   * The token to answer with instead of minting one, or undefined to mint: none cached, within
   * `marginSeconds` of its expiry, or the one cached is the token `refresh` (a SHA-256) names. A
   * `refresh` naming another token is answered with the cached one: another caller has replaced it
   * already.
   */
  answer(
    identity: ManagedIdentityRecord,
    resource: ResourceRecord,
    nowSeconds: number,
    marginSeconds = IDENTITY_CACHE_MARGIN_SECONDS,
    refresh?: string,
  ): CachedIdentityToken | undefined {
    const cached = this.tokens.get(key(identity, resource));
    if (cached === undefined || cached.expiresOn - marginSeconds <= nowSeconds) {
      return undefined;
    }
    return cached.sha256 === refresh ? undefined : cached;
  }

  /** Keeps a token just minted for the identity's next requests. */
  keep(
    identity: ManagedIdentityRecord,
    resource: ResourceRecord,
    token: string,
    issuedAt: number,
    expiresOn: number,
  ): void {
    this.tokens.set(key(identity, resource), {
      token,
      issuedAt,
      expiresOn,
      sha256: sha256Hex(token),
    });
  }
}

/** Lower-case hex SHA-256 of a token's UTF-8 text, as MSAL computes `token_sha256_to_refresh`. */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function key(identity: ManagedIdentityRecord, resource: ResourceRecord): string {
  return `${identity.clientId}|${resource.appIdUri}`;
}

import { createHash } from 'node:crypto';
import type { ManagedIdentityRecord, ResourceRecord } from './directory';

/**
 * How long before its expiry a cached token stops being handed out (seconds): msal-node never
 * serves a token with 5 minutes or less left from its own cache, so an endpoint that did would
 * only cause a request per call. Tokens of a shorter lifetime (tests') are never cached.
 */
export const IDENTITY_CACHE_MARGIN_SECONDS = 300;

/** A token the endpoint handed out, kept to answer the identity's next requests with. */
export interface CachedIdentityToken {
  readonly token: string;
  /** Epoch seconds. */
  readonly expiresOn: number;
  /** Lower-case hex SHA-256 of the token: its name in `token_sha256_to_refresh`. */
  readonly sha256: string;
}

/**
 * The token cache of App Service's managed identity endpoint, per identity and resource. The real
 * endpoint answers a repeat request with the token it handed out before, until near expiry — even
 * after Entra revoked it — unless the request names that token in `token_sha256_to_refresh`.
 */
export class IdentityTokenCache {
  private readonly tokens = new Map<string, CachedIdentityToken>();

  /**
   * The token to answer with instead of minting one, or undefined to mint: none cached, too close
   * to expiry, or the one cached is the token `refresh` (a SHA-256) names. A `refresh` naming
   * another token is answered with the cached one: another caller has replaced it already.
   */
  answer(
    identity: ManagedIdentityRecord,
    resource: ResourceRecord,
    nowSeconds: number,
    refresh?: string,
  ): CachedIdentityToken | undefined {
    const cached = this.tokens.get(key(identity, resource));
    if (cached === undefined || cached.expiresOn - IDENTITY_CACHE_MARGIN_SECONDS <= nowSeconds) {
      return undefined;
    }
    return cached.sha256 === refresh ? undefined : cached;
  }

  /** Keeps a token just minted for the identity's next requests. */
  keep(
    identity: ManagedIdentityRecord,
    resource: ResourceRecord,
    token: string,
    expiresOn: number,
  ): void {
    this.tokens.set(key(identity, resource), { token, expiresOn, sha256: sha256Hex(token) });
  }
}

/** Lower-case hex SHA-256 of a token's UTF-8 text, as MSAL computes `token_sha256_to_refresh`. */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function key(identity: ManagedIdentityRecord, resource: ResourceRecord): string {
  return `${identity.clientId}|${resource.appIdUri}`;
}

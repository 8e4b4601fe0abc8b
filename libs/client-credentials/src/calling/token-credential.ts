import type { TokenService } from '../token.service';

/**
 * `@azure/core-auth`'s `GetTokenOptions`, as far as this credential reads it (the shape is
 * structural: no dependency on @azure/core-auth is needed).
 */
export interface AzureGetTokenOptions {
  /** core-auth's `AbortSignalLike`; honoured when it is an `AbortSignal` (as the SDK passes). */
  abortSignal?: { readonly aborted: boolean };
  /** Tenant of the token (multi-tenant clients, Key Vault's challenge). */
  tenantId?: string;
  /** Decoded claims of a resource's claims challenge (CAE). */
  claims?: string;
  /** The SDK handles claims challenges: always so here (every request declares `cp1`). */
  enableCae?: boolean;
  requestOptions?: { timeout?: number };
  tracingOptions?: unknown;
}

/** `@azure/core-auth`'s `AccessToken`. */
export interface AzureAccessToken {
  token: string;
  /** Epoch milliseconds. */
  expiresOnTimestamp: number;
  /** When the SDK should ask again (epoch ms): our background refresh point. */
  refreshAfterTimestamp?: number;
  tokenType?: 'Bearer' | 'pop';
}

/** `@azure/core-auth`'s `TokenCredential`: what every Azure SDK client takes. */
export interface AzureTokenCredential {
  getToken(
    scopes: string | string[],
    options?: AzureGetTokenOptions,
  ): Promise<AzureAccessToken | null>;
}

/**
 * Options of {@link createTokenCredential}.
 * @publicApi
 */
export interface TokenCredentialOptions {
  /** Credential name. @default the default credential */
  credential?: string;
  /**
   * A fixed tenant: every token is of this tenant, whatever tenant an SDK client asks for.
   * @default the tenant the SDK asks for, else the credential's
   */
  tenantId?: string;
}

/**
 * An Azure SDK `TokenCredential` served from this library's cache: hand it to any Azure SDK
 * client (`new BlobServiceClient(url, credential)`). A call with `claims` (the SDK's answer to a
 * claims challenge) gets a fresh token carrying them, never served to callers without claims.
 *
 * @example
 * const credential = createTokenCredential(tokens, { credential: 'storage' });
 * const blobs = new BlobServiceClient('https://acct.blob.core.windows.net', credential);
 * @publicApi
 */
export function createTokenCredential(
  tokens: TokenService,
  options: TokenCredentialOptions = {},
): AzureTokenCredential {
  return {
    async getToken(scopes, getTokenOptions = {}) {
      const call = {
        credential: options.credential,
        tenantId: options.tenantId ?? getTokenOptions.tenantId,
        signal:
          getTokenOptions.abortSignal instanceof AbortSignal
            ? getTokenOptions.abortSignal
            : undefined,
      };
      const token =
        getTokenOptions.claims === undefined || getTokenOptions.claims === ''
          ? await tokens.getAccessToken(scopes, call)
          : await tokens.getAccessTokenWithClaims(scopes, getTokenOptions.claims, call);
      return {
        token: token.token,
        expiresOnTimestamp: token.expiresOn.getTime(),
        refreshAfterTimestamp: token.refreshOn?.getTime(),
        tokenType: 'Bearer',
      };
    },
  };
}

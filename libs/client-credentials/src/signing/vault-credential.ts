import { SignerError } from './signer-error';

/** What a vault signer needs of the token service: tokens of one credential of the module. */
export interface CredentialTokens {
  /** The credential's name, for messages. */
  readonly name: string;
  getAccessToken(
    scopes: string[],
    options: { tenantId?: string; signal?: AbortSignal },
  ): Promise<{ token: string; expiresOnTimestamp: number; refreshOnTimestamp?: number }>;
  /** The tenant of its tokens (a managed identity's, once its first token showed it). */
  tenantOf(): string;
  /** Whether it has tokens of its own tenant only (a managed identity). */
  isSingleTenant(): boolean;
}

/** `@azure/core-auth`'s `TokenCredential`, as far as the Key Vault client calls it. */
export interface VaultTokenCredential {
  getToken(
    scopes: string | string[],
    options?: { tenantId?: string; abortSignal?: unknown; claims?: string },
  ): Promise<{
    token: string;
    expiresOnTimestamp: number;
    refreshAfterTimestamp?: number;
    tokenType: 'Bearer';
  }>;
}

/**
 * The Key Vault client's credential: tokens of the named credential, from the module's cache. The
 * vault's challenge names its tenant; that must be the credential's own — a vault URL pointing at
 * another tenant's vault must not make the app get tokens there (as @azure/identity refuses a
 * tenant not allowed). A managed identity's own tenant is learned from its first token: the token
 * service serves it by name and refuses any other (`tenant_unsupported`).
 */
export function vaultTokenCredential(tokens: CredentialTokens): VaultTokenCredential {
  return {
    async getToken(scopes, options = {}) {
      const asked = options.tenantId;
      let tenantId: string | undefined;
      if (asked !== undefined && asked !== '') {
        const own = tokens.tenantOf();
        if (asked.toLowerCase() !== own.toLowerCase()) {
          if (!tokens.isSingleTenant()) {
            throw new SignerError(
              `credential: the vault's challenge names tenant '${asked}', not tenant '${own}' of credential '${tokens.name}' — use a vault of the credential's tenant, or a credential of the vault's`,
            );
          }
          tenantId = asked;
        }
      }
      const signal = options.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
      const token = await tokens.getAccessToken(typeof scopes === 'string' ? [scopes] : scopes, {
        tenantId,
        signal,
      });
      return {
        token: token.token,
        expiresOnTimestamp: token.expiresOnTimestamp,
        refreshAfterTimestamp: token.refreshOnTimestamp,
        tokenType: 'Bearer',
      };
    },
  };
}

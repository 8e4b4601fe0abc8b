import { SignerError } from './signer-error';

/**
 * The resources of Key Vault and Managed HSM in Azure's clouds (public, China, US Government, and
 * the retired Germany cloud), as the vaults' challenges name them: the only audiences the vault
 * credential gets tokens for. The list is Microsoft's (Key Vault's and Managed HSM's DNS suffixes
 * per cloud); the SDK does not export one.
 */
export const VAULT_RESOURCES: readonly string[] = [
  'https://vault.azure.net',
  'https://vault.azure.cn',
  'https://vault.usgovcloudapi.net',
  'https://vault.microsoftazure.de',
  'https://managedhsm.azure.net',
  'https://managedhsm.azure.cn',
  'https://managedhsm.usgovcloudapi.net',
  'https://managedhsm.microsoftazure.de',
];
const VAULTS = new Set(VAULT_RESOURCES);

/** The resource of a scope (`https://vault.azure.net/.default` → `https://vault.azure.net`). */
function resourceOf(scope: string): string {
  return scope
    .replace(/\/\.default$/i, '')
    .replace(/\/+$/, '')
    .toLowerCase();
}

/** A scope as a message may show it: printable, bounded (it comes from the server at `keyId`). */
function shown(scope: string): string {
  const printable = scope.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 200 ? `${printable.slice(0, 200)}…` : printable;
}

/** A tenant id, as a vault's challenge names the tenant. */
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The challenge of a vault of another tenant (or of one the credential cannot tell is its own). */
function otherTenant(tokens: CredentialTokens, asked: string, id: string | undefined): SignerError {
  const own = tokens.tenantOf();
  const which =
    id === undefined
      ? `tenant '${own}' of credential '${tokens.name}', whose tokens do not name their tenant's id (tid)`
      : `tenant '${own}'${id === own.toLowerCase() ? '' : ` (id ${id})`} of credential '${tokens.name}'`;
  return new SignerError(
    `credential: the vault's challenge names tenant '${shown(asked)}', not ${which} — use a vault of the credential's tenant, or a credential of the vault's`,
  );
}

/** A call of the vault credential's tokens: the tenant to ask (none: its own), the SDK's signal. */
interface TokenCall {
  tenantId?: string;
  signal?: AbortSignal;
}

/** A token of the vault credential, as the token service gives it. */
interface VaultToken {
  token: string;
  expiresOnTimestamp: number;
  refreshOnTimestamp?: number;
}

/** What a vault signer needs of the token service: tokens of one credential of the module. */
export interface CredentialTokens {
  /** The credential's name, for messages. */
  readonly name: string;
  getAccessToken(scopes: string[], options: TokenCall): Promise<VaultToken>;
  /**
   * A token carrying the claims of a resource's claims challenge (CAE), cached under them: see
   * `TokenService.getAccessTokenWithClaims`.
   */
  getAccessTokenWithClaims(
    scopes: string[],
    claims: string,
    options: TokenCall,
  ): Promise<VaultToken>;
  /**
   * Stops serving `refused` to calls without claims (see `TokenService.forgetRefusedToken`);
   * `claims`, those of the challenge that refused it.
   */
  forgetRefusedToken(
    scopes: string[],
    refused: string,
    options: { tenantId?: string; claims?: string },
  ): boolean;
  /** The tenant of its tokens (a managed identity's, once its first token showed it). */
  tenantOf(): string;
  /**
   * The id (GUID) of its own tenant: its `tenantId` when an id, else the `tid` of its tokens of
   * that tenant; undefined while none was had.
   */
  tenantIdOf(): string | undefined;
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
 *
 * A challenge names the tenant by id; a credential may name its own by a verified domain
 * (`contoso.onmicrosoft.com`): the ids are compared, the credential's read from its tokens' `tid`.
 * Before any token showed it, the token is got in the credential's own tenant and given only when
 * its `tid` is the challenge's tenant: the challenge never chooses where a token is asked.
 *
 * The challenge also names the resource of the token; with `disableChallengeResourceVerification`
 * the SDK no longer checks it against the vault's host, so the host at `keyId` would choose the
 * audience of the token it receives — say, another API of the tenant, which would accept it. Only
 * tokens of Key Vault and Managed HSM ({@link VAULT_RESOURCES}) are given, whatever the flag.
 *
 * A vault's claims challenge (continuous access evaluation: the token was revoked) makes the SDK
 * ask again with `claims`: it gets a token carrying them (after the same checks), and the token it
 * presented is no longer served to anyone — as `createTokenCredential` does, and `forgetRefusedToken`.
 */
export function vaultTokenCredential(tokens: CredentialTokens): VaultTokenCredential {
  // The last token given without claims, and its call: the SDK's client (one per signer) keeps it
  // and presents it until it asks again, so it is the token a claims challenge refuses.
  let presented: { token: string; scopes: string[]; tenantId?: string } | undefined;
  return {
    async getToken(scopes, options = {}) {
      const list = typeof scopes === 'string' ? [scopes] : scopes;
      const foreign = list.find((scope) => !VAULTS.has(resourceOf(scope)));
      if (foreign !== undefined || list.length === 0) {
        throw new SignerError(
          `keyId: the vault's challenge asks for a token of '${shown(foreign ?? '')}', not of Key Vault or Managed HSM — credential '${tokens.name}' gives tokens only to vaults (${VAULT_RESOURCES[0]}, ${VAULT_RESOURCES[4]} and their national clouds'); check that keyId is a vault's key URL`,
        );
      }
      const asked = options.tenantId;
      let tenantId: string | undefined;
      // The challenge's tenant, to check against the id of the credential's own once a token of
      // it showed that id.
      let unproven: string | undefined;
      if (asked !== undefined && asked !== '') {
        const own = tokens.tenantOf();
        const id = tokens.tenantIdOf();
        const key = asked.toLowerCase();
        if (key !== own.toLowerCase() && key !== id) {
          if (tokens.isSingleTenant()) tenantId = asked;
          else if (id === undefined && TENANT_ID.test(asked)) unproven = key;
          else throw otherTenant(tokens, asked, id);
        }
      }
      const signal = options.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
      const claims = options.claims;
      let token: VaultToken;
      if (claims === undefined || claims === '') {
        token = await tokens.getAccessToken(list, { tenantId, signal });
      } else {
        // The SDK's answer to the vault's claims challenge (CAE: the token was revoked): the token
        // it presented is the last one given here without claims — no longer served to anyone.
        if (presented !== undefined) {
          tokens.forgetRefusedToken(presented.scopes, presented.token, {
            tenantId: presented.tenantId,
            claims,
          });
          presented = undefined;
        }
        token = await tokens.getAccessTokenWithClaims(list, claims, { tenantId, signal });
      }
      if (unproven !== undefined && tokens.tenantIdOf() !== unproven) {
        throw otherTenant(tokens, asked!, tokens.tenantIdOf());
      }
      if (claims === undefined || claims === '') {
        presented = { token: token.token, scopes: list, tenantId };
      }
      return {
        token: token.token,
        expiresOnTimestamp: token.expiresOnTimestamp,
        refreshAfterTimestamp: token.refreshOnTimestamp,
        tokenType: 'Bearer',
      };
    },
  };
}

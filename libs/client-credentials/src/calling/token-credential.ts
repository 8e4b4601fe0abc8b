import { InvalidRequestError } from '../errors/client-credentials.errors';
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
   * The credential's own tenant: the tenant of every token an SDK client asks for without naming
   * one, and the one tenant it may name without `additionallyAllowedTenants`.
   * @default the credential's `tenantId`
   */
  tenantId?: string;
  /**
   * An agent identity of the credential, an agent identity blueprint (its app id or configured
   * name): the SDK client authenticates as the agent. See docs/agents.md.
   */
  agent?: string;
  /**
   * Tenants other than its own that an SDK client may ask for (`getToken(…, { tenantId })`: SDKs
   * pass the tenant of a resource's challenge, Key Vault's say); `'*'` allows any. Any other
   * tenant is refused before a token request, as `@azure/identity`'s credentials do: a resource
   * must not make the app get tokens of whatever tenant it names. Compared without case.
   * @default [] (its own tenant only)
   */
  additionallyAllowedTenants?: readonly string[];
}

/**
 * An Azure SDK `TokenCredential` served from this library's cache: hand it to any Azure SDK
 * client (`new BlobServiceClient(url, credential)`). Bearer tokens only: Azure SDK clients send
 * tokens without proofs and presents no client certificate, so a credential whose tokens are
 * bound to a key (`dpop`) or a certificate (`mtls`) is refused (`proof_required`) before any
 * token request. A call with `claims` (the SDK's answer to a
 * claims challenge) gets a fresh token carrying them, never served to callers without claims.
 * A call naming a tenant other than the credential's own is refused (`tenant_not_allowed`) unless
 * that tenant is in `additionallyAllowedTenants`.
 *
 * @example
 * const credential = createTokenCredential(tokens, { credential: 'storage' });
 * const blobs = new BlobServiceClient('https://acct.blob.core.windows.net', credential);
 * @example
 * // A Key Vault of a customer tenant, whose challenge names that tenant:
 * const vaults = createTokenCredential(tokens, { additionallyAllowedTenants: [customerTenantId] });
 * @publicApi
 */
export function createTokenCredential(
  tokens: TokenService,
  options: TokenCredentialOptions = {},
): AzureTokenCredential {
  // Lower case → as listed: a tenant asked in another case shares the token of the listed one.
  const allowed = new Map(
    (options.additionallyAllowedTenants ?? []).map((t) => [t.toLowerCase(), t] as const),
  );
  // Read on first need: the token service may not be initialised when the credential is made
  // (a provider factory runs before onModuleInit), and a credential's tenant never changes after.
  let own: { tenantId?: string; credential?: string } | undefined;
  const tenantFor = (asked: string | undefined): string | undefined => {
    if (asked === undefined || asked === '') return options.tenantId;
    if (allowed.has('*')) return asked;
    // A managed identity (or an issuer named by URL) has one tenant, its own: the token service
    // serves it when the SDK names it (a managed identity's is learned from its first token) and
    // refuses any other (`tenant_unsupported`) — there is no other tenant to allow.
    if (options.tenantId === undefined && singleTenant(tokens, options.credential)) return asked;
    const home = own ?? homeOf(tokens, options.credential, options.tenantId);
    // An unknown credential (or a service not yet initialised): the token service refuses the
    // call with its own error. Only a known tenant is kept.
    if (home.tenantId === undefined) return asked;
    own = home;
    const key = asked.toLowerCase();
    // Its own tenant as the calls that name none get it: the SDK's spelling (Key Vault's
    // challenge, say) must not cost a token of its own.
    if (key === home.tenantId.toLowerCase()) return options.tenantId;
    if (allowed.has(key)) return allowed.get(key);
    const which = home.credential === undefined ? '' : ` of credential '${home.credential}'`;
    throw new InvalidRequestError(
      'tenant_not_allowed',
      `The TokenCredential${which} was asked for a token of tenant '${asked}', which is neither its own tenant '${home.tenantId}' nor listed in additionallyAllowedTenants.`,
      { credential: home.credential, tenantId: asked },
    );
  };
  return {
    async getToken(scopes, getTokenOptions = {}) {
      refuseBound(tokens, options.credential);
      const call = {
        credential: options.credential,
        agent: options.agent,
        tenantId: tenantFor(getTokenOptions.tenantId),
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
        expiresOnTimestamp: token.expiresOnTimestamp,
        refreshAfterTimestamp: token.refreshOnTimestamp,
        tokenType: 'Bearer',
      };
    },
  };
}

/**
 * Azure SDK clients send what `getToken` answers as a Bearer token (`@azure/core-auth` knows no
 * DPoP, and their HTTP pipeline presents no client certificate): a bound token would go without
 * its proof or certificate. Refused before any token request.
 * @throws InvalidRequestError `proof_required`
 */
function refuseBound(tokens: TokenService, credential: string | undefined): void {
  let binding: string;
  try {
    binding = tokens.tokenBinding(credential);
  } catch {
    return; // an unknown credential: the token service refuses the call with its own error
  }
  if (binding === 'bearer') return;
  throw new InvalidRequestError(
    'proof_required',
    `The TokenCredential${credential === undefined ? '' : ` of credential '${credential}'`} was asked for a token, but the credential's tokens are bound to its ${binding === 'dpop' ? 'DPoP key' : 'certificate'}: Azure SDK clients send Bearer tokens only.`,
    { credential },
  );
}

/**
 * The credential's own tenant — `fixed` when given, else its configured tenant — and its name
 * (default: the default credential); no tenant for a credential the token service does not know.
 */
function homeOf(
  tokens: TokenService,
  name: string | undefined,
  fixed: string | undefined,
): { tenantId?: string; credential?: string } {
  let credential = name;
  try {
    // The default credential's counters name it.
    credential ??= tokens.getStats(name).credential;
  } catch {
    return fixed === undefined ? {} : { tenantId: fixed };
  }
  return { tenantId: fixed ?? tokens.tenantOf(credential), credential };
}

/** Whether the credential has tokens of its own tenant only; false when it cannot be told yet. */
function singleTenant(tokens: TokenService, credential: string | undefined): boolean {
  try {
    return tokens.isSingleTenant(credential);
  } catch {
    return false;
  }
}

import { tenantOfToken } from '../credentials/token-tenant';
import { InvalidRequestError } from '../errors/client-credentials.errors';
import type { TokenService } from '../token.service';

/** A tenant id, as resources' challenges name tenants. */
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
   * The agent user of `agent` (its UPN or object ID): the SDK client authenticates as that user
   * (delegated tokens; the SDK's `<resource>/.default` asks for every scope granted for the user).
   * Needs `agent`. See docs/agents.md.
   */
  agentUser?: string;
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
 * that tenant is in `additionallyAllowedTenants`. Its own tenant may be configured by a verified
 * domain and named by its id (Key Vault's challenge does): the id is read from its tokens' `tid`
 * — before any showed it, the token is got in its own tenant and given only if its `tid` is the
 * tenant asked.
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
  // The id of its own tenant when that is configured by a verified domain, once a token of it
  // named it (`tid`): resources' challenges name tenants by id.
  let ownId: string | undefined;
  const notAllowed = (asked: string): InvalidRequestError => {
    const home = own!;
    const which = home.credential === undefined ? '' : ` of credential '${home.credential}'`;
    const id = ownId === undefined ? '' : ` (id ${ownId})`;
    return new InvalidRequestError(
      'tenant_not_allowed',
      `The TokenCredential${which} was asked for a token of tenant '${asked}', which is neither its own tenant '${home.tenantId}'${id} nor listed in additionallyAllowedTenants.`,
      { credential: home.credential, tenantId: asked },
    );
  };
  /** The tenant to ask, and, when the one asked may be its own by id, that id to check. */
  const tenantFor = (asked: string | undefined): { tenantId?: string; unproven?: string } => {
    if (asked === undefined || asked === '') return { tenantId: options.tenantId };
    if (allowed.has('*')) return { tenantId: asked };
    // A managed identity (or an issuer named by URL) has one tenant, its own: the token service
    // serves it when the SDK names it (a managed identity's is learned from its first token) and
    // refuses any other (`tenant_unsupported`) — there is no other tenant to allow.
    if (options.tenantId === undefined && singleTenant(tokens, options.credential)) {
      return { tenantId: asked };
    }
    const home = own ?? homeOf(tokens, options.credential, options.tenantId);
    // An unknown credential (or a service not yet initialised): the token service refuses the
    // call with its own error. Only a known tenant is kept.
    if (home.tenantId === undefined) return { tenantId: asked };
    own = home;
    const key = asked.toLowerCase();
    const homeKey = home.tenantId.toLowerCase();
    const id = TENANT_ID.test(homeKey) ? homeKey : ownId;
    // Its own tenant as the calls that name none get it: the SDK's spelling (Key Vault's
    // challenge, say) must not cost a token of its own.
    if (key === homeKey || key === id) return { tenantId: options.tenantId };
    if (allowed.has(key)) return { tenantId: allowed.get(key) };
    // Its own tenant by a domain, asked by an id no token of it showed yet: a token of its own
    // tenant is got (never one of the tenant asked), and given only if it names that id.
    if (id === undefined && TENANT_ID.test(key)) {
      return { tenantId: options.tenantId, unproven: key };
    }
    throw notAllowed(asked);
  };
  return {
    async getToken(scopes, getTokenOptions = {}) {
      refuseBound(tokens, options.credential);
      const tenant = tenantFor(getTokenOptions.tenantId);
      const call = {
        credential: options.credential,
        agent: options.agent,
        agentUser: options.agentUser,
        tenantId: tenant.tenantId,
        signal:
          getTokenOptions.abortSignal instanceof AbortSignal
            ? getTokenOptions.abortSignal
            : undefined,
      };
      const token =
        getTokenOptions.claims === undefined || getTokenOptions.claims === ''
          ? await tokens.getAccessToken(scopes, call)
          : await tokens.getAccessTokenWithClaims(scopes, getTokenOptions.claims, call);
      if (tenant.unproven !== undefined) {
        ownId ??= tenantOfToken(token.token);
        if (ownId !== tenant.unproven) throw notAllowed(getTokenOptions.tenantId!);
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

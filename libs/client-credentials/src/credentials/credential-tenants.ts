import { ConfigurationError, InvalidRequestError } from '../errors/client-credentials.errors';
import type { ResolvedCredential } from '../options/resolved-options';
import { tenantOfToken } from './token-tenant';

/** A tenant id (not a domain name). */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Which tenants a credential has tokens of: any that consented to its app, or — a managed identity,
 * an OIDC issuer named by its URL — its own only. A managed identity's own tenant is configured
 * nowhere: it is learned from the `tid` of its first token.
 */
export class CredentialTenants {
  /** The home tenant, lower case: tenant ids and domains are not case-sensitive. */
  readonly home: string;
  /**
   * A managed identity's own tenant (lower case), read from the `tid` of its tokens: it is
   * configured nowhere (its `tenantId` is a placeholder), yet an SDK that follows a resource's
   * challenge names it (Key Vault, Storage, Service Bus).
   */
  #own?: string;
  /**
   * The id of a home tenant configured by a verified domain (`contoso.onmicrosoft.com`), lower
   * case: read from the `tid` of a token of that tenant. Resources name tenants by id (a vault's
   * challenge), and a domain cannot be compared with one.
   */
  #homeId?: string;

  constructor(
    private readonly options: Pick<ResolvedCredential, 'name' | 'tenantId' | 'issuer'>,
    /** A managed identity has tokens of its own tenant only. */
    private readonly identityOnly: boolean,
  ) {
    this.home = options.tenantId.toLowerCase();
  }

  /** Whether the credential has tokens of its own tenant only. */
  get ownOnly(): boolean {
    return this.identityOnly || this.options.issuer !== undefined;
  }

  /** The tenant of its tokens: a managed identity's own once known, else the configured one. */
  get current(): string {
    return this.#own ?? this.options.tenantId;
  }

  /**
   * The id (GUID, lower case) of the credential's own tenant: its `tenantId` when that is an id;
   * for one configured by a domain, or a managed identity, the `tid` its tokens of that tenant
   * named; undefined until one did (or for an issuer whose tokens name none).
   */
  get id(): string | undefined {
    return this.#own ?? (GUID.test(this.home) ? this.home : this.#homeId);
  }

  /**
   * A managed identity configured with a `tenantId`: its tokens must be of that tenant — else the
   * setting names another tenant, and a call naming it would get the identity's own tenant's
   * tokens as if they were that tenant's.
   * @throws ConfigurationError naming `credentials.<name>.tenantId`
   */
  checkConfigured(token: string): void {
    // A tenant configured by a domain name cannot be compared with a token's tenant id.
    if (!this.identityOnly || !GUID.test(this.home)) return;
    const tid = tenantOfToken(token);
    if (tid === undefined || tid === this.home) return;
    throw new ConfigurationError([
      `credentials.${this.options.name}.tenantId: names tenant '${this.options.tenantId}', but the managed identity's tokens are of tenant '${tid}' — leave tenantId out (a managed identity needs none) or set it to '${tid}'`,
    ]);
  }

  /**
   * Learns the id of the credential's own tenant from one of its tokens of `tenantId` (the tenant
   * the token was asked for): a managed identity's from any of its tokens (it has no other
   * tenant), a home tenant's configured by a domain from a token of that tenant. Once.
   */
  learnFrom(token: string, tenantId: string): void {
    if (this.identityOnly) {
      if (this.#own === undefined) this.#own = tenantOfToken(token);
    } else if (
      this.#homeId === undefined &&
      this.options.issuer === undefined &&
      tenantId.toLowerCase() === this.home &&
      !GUID.test(this.home)
    ) {
      this.#homeId = tenantOfToken(token);
    }
  }

  /**
   * Why the credential cannot get tokens of `tenantId`, as a typed error; undefined when it can.
   * A managed identity lives in one tenant and has tokens of that tenant only: asked for another,
   * it would answer with a token of its own tenant, which must never be cached as the other's.
   */
  problem(tenantId: string): InvalidRequestError | undefined {
    const tenant = tenantId.toLowerCase();
    if (tenant === this.home) return undefined;
    // A managed identity's own tenant, once known from its tokens; while unknown, any tenant may
    // be it: the caller checks it against the token's (see assertOwn).
    if (this.identityOnly && (this.#own === undefined || this.#own === tenant)) return undefined;
    // A managed identity, or an issuer named by its URL, has one realm: no other tenant to ask.
    const what = this.identityOnly
      ? `is a managed identity of tenant '${this.#own}': it has tokens of its own tenant only`
      : this.options.issuer !== undefined
        ? `names its issuer (${this.options.issuer}), which has no other tenants`
        : undefined;
    if (what === undefined) return undefined;
    return new InvalidRequestError(
      'tenant_unsupported',
      `Credential '${this.options.name}' ${what}, not tenant '${tenantId}'.`,
      { credential: this.options.name, tenantId },
    );
  }

  /**
   * Checks that `tenantId`, asked of a managed identity while its tenant was not known, is the
   * tenant its token showed.
   * @throws InvalidRequestError `tenant_unsupported` when it is not (or no token showed one)
   */
  assertOwn(tenantId: string): void {
    if (!this.identityOnly || tenantId.toLowerCase() === this.home) return;
    if (this.#own === tenantId.toLowerCase()) return;
    const name = this.options.name;
    throw new InvalidRequestError(
      'tenant_unsupported',
      this.#own === undefined
        ? `Credential '${name}' is a managed identity whose tokens do not name their tenant (no 'tid'): it cannot tell whether tenant '${tenantId}' is its own.`
        : `Credential '${name}' is a managed identity of tenant '${this.#own}': it has tokens of its own tenant only, not tenant '${tenantId}'.`,
      { credential: name, tenantId },
    );
  }
}

import type { GetTokenOptions } from '../client-credentials.options';
import type { Credential } from './credential';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import { scopeKey, validateScopes, validateTenant } from '../options/request-validation';
import type { TokenRequest } from './token-request';

/**
 * The configured credentials by name, and what turns a call (scopes, credential, tenant) into a
 * validated {@link TokenRequest}: every check happens here, before any flight, lock, cool-down
 * or network call.
 */
export class CredentialRegistry {
  private readonly byName = new Map<string, Credential>();
  private closed = false;

  constructor(private readonly defaultName: string | undefined) {}

  add(credential: Credential): void {
    this.byName.set(credential.name, credential);
  }

  /** The credential a call names, or the default one; undefined when there is none. */
  find(name: string | undefined): Credential | undefined {
    const n = name ?? this.defaultName;
    return n === undefined ? undefined : this.byName.get(n);
  }

  /** @throws InvalidRequestError `credential_unknown` */
  get(name: string | undefined): Credential {
    const credential = this.find(name);
    if (credential === undefined) throw this.unknown(name);
    return credential;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get all(): Credential[] {
    return [...this.byName.values()];
  }

  /** The request of a call, validated: the same index key as a cache hit looks up. */
  request(
    scopes: string | readonly string[],
    options?: Pick<GetTokenOptions, 'credential' | 'tenantId'>,
  ): TokenRequest {
    const credential = this.get(options?.credential);
    const tenantId = options?.tenantId ?? credential.options.tenantId;
    return this.validate(credential, tenantId, scopes, scopeKey(scopes));
  }

  /** Checks scopes and tenant; `sk` is the scopes' {@link scopeKey}. */
  validate(
    credential: Credential,
    tenantId: string,
    scopes: string | readonly string[],
    sk: string,
  ): TokenRequest {
    if (this.closed)
      throw new ClientCredentialsError('shutdown', 'The token service is shut down.');
    const { protocol, tenantId: home } = credential.options;
    const list = validateScopes(scopes, protocol, credential.name);
    let tenant = tenantId;
    if (tenantId !== home) {
      validateTenant(tenantId, protocol, credential.name);
      // E.g. a managed identity has no other tenant.
      const unsupported = credential.tenantProblem(tenantId);
      if (unsupported !== undefined) throw unsupported;
      if (credential.ownTenantOnly) {
        // Its own tenant, named (an SDK names the tenant of a resource's challenge): its tokens
        // are those of the home key. A managed identity's is checked against its token's `tid`
        // by whoever gets the token (Credential.assertOwnTenant).
        tenant = home;
      } else if (protocol === 'entra') {
        // Entra's tenant ids and domains ignore case: one token per tenant however it is spelt
        // (the home tenant as configured, so that the hit path finds it). An OIDC realm may not.
        tenant = tenantId.toLowerCase() === home.toLowerCase() ? home : tenantId.toLowerCase();
      }
    }
    return { credential, tenantId: tenant, scopes: list, scopeKey: sk };
  }

  /** Refuses every request from now on (`shutdown`). */
  close(): void {
    this.closed = true;
  }

  unknown(name: string | undefined): InvalidRequestError {
    const names = this.names.join(', ');
    return new InvalidRequestError(
      'credential_unknown',
      name === undefined
        ? `No credential named and no default credential: name one of ${names}.`
        : `Unknown credential '${name}': configured are ${names}.`,
    );
  }
}

import type { AccessToken } from '../access-token';
import type { TokenCache } from '../cache/token-cache';
import type { GetTokenOptions } from '../client-credentials.options';
import type { Credential } from '../credentials/credential';
import type { CredentialRegistry } from '../credentials/credential-registry';
import type { TokenRequest } from '../credentials/token-request';
import { claimsId, revokedBefore } from '../options/claims-request';
import { abortedBy } from './caller-wait';
import type { TokenAcquirer } from './token-acquirer';

/**
 * What a call of the token service does past its cache-hit path: a miss validated and acquired, a
 * claims token, a token an API refused replaced or forgotten — each token checked against the
 * tenant the call named. The hit path itself stays in the service: a map lookup and a clock read.
 */
export class TokenCalls {
  constructor(
    private readonly credentials: CredentialRegistry,
    private readonly cache: TokenCache,
    private readonly acquirer: TokenAcquirer,
  ) {}

  /** A token for a call the in-memory index did not answer by its own strings. */
  async miss(
    credential: Credential,
    tenantId: string,
    scopes: string | readonly string[],
    sk: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const request = this.credentials.validate(credential, tenantId, scopes, sk, options);
    // Neither a hit nor a miss: a caller that gave up gets no token, cached or not.
    if (options?.signal?.aborted) throw abortedBy(request);
    if (options?.forceRefresh !== true && (request.tenantId !== tenantId || options?.agent)) {
      // The tenant spelt in another case, a single-tenant credential's own tenant named, or an
      // agent named in another way (by name, by id in other case): its token may be in memory
      // under the usual key.
      const hit = this.cache.serve(this.cache.entryOf(request), scopes);
      if (hit !== undefined) return this.ofTenant(request, options, hit);
    }
    credential.stats.cacheMisses++;
    const token = await this.acquirer.acquire(
      request,
      options?.forceRefresh === true,
      options?.signal,
    );
    return this.ofTenant(request, options, token);
  }

  /** See `TokenService.replaceRefusedToken`. */
  async replace(
    scopes: string | readonly string[],
    refused: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken | undefined> {
    const request = this.credentials.request(scopes, options);
    if (options?.signal?.aborted) {
      // The API's refusal stands (the token is served no more); the caller that gave up gets none.
      this.acquirer.forget(request, refused);
      throw abortedBy(request);
    }
    const entry = this.cache.entryOf(request);
    // Another caller already replaced it.
    const replaced = entry?.token === refused ? undefined : this.cache.serve(entry, scopes);
    if (replaced !== undefined) return this.ofTenant(request, options, replaced);
    request.credential.stats.cacheMisses++;
    const token = await this.acquirer.replace(request, refused, options?.signal);
    return token && this.ofTenant(request, options, token);
  }

  /** See `TokenService.forgetRefusedToken`. */
  forget(
    scopes: string | readonly string[],
    refused: string,
    options?: Omit<GetTokenOptions, 'forceRefresh' | 'signal'> & { claims?: string },
  ): boolean {
    return this.acquirer.forget(
      this.credentials.request(scopes, options),
      refused,
      revokedBefore(options?.claims),
    );
  }

  /** See `TokenService.getAccessTokenWithClaims`. */
  async withClaims(
    scopes: string | readonly string[],
    claims: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const base = this.credentials.request(scopes, options);
    const id = claimsId(claims);
    // A line break, which no valid scope has: no scope string names this key.
    const request: TokenRequest = { ...base, scopeKey: `${base.scopeKey}\nclaims:${id}`, claims };
    if (options?.signal?.aborted) throw abortedBy(request);
    if (options?.forceRefresh !== true) {
      const hit = this.cache.serve(this.cache.entryOf(request), scopes, true);
      if (hit !== undefined) return this.ofTenant(request, options, hit);
    }
    request.credential.stats.cacheMisses++;
    const token = await this.acquirer.acquire(
      request,
      options?.forceRefresh === true,
      options?.signal,
    );
    return this.ofTenant(request, options, token);
  }

  /**
   * `token`, when the tenant the call named is the token's: a managed identity named a tenant
   * before its own was known is checked once its token shows it.
   * @throws InvalidRequestError `tenant_unsupported`
   */
  private ofTenant(
    request: TokenRequest,
    options: Pick<GetTokenOptions, 'credential' | 'tenantId'> | undefined,
    token: AccessToken,
  ): AccessToken {
    const asked = options?.tenantId;
    if (asked !== undefined && asked !== request.tenantId) {
      this.credentials.get(options?.credential).tenants.assertOwn(asked);
    }
    return token;
  }
}

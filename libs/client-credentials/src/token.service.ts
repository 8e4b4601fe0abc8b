import {
  Inject,
  Injectable,
  Logger,
  LoggerService,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { inspect } from 'node:util';
import type { AccessToken } from './access-token';
import { TokenRuntime } from './acquisition/token-runtime';
import type { TokenAcquirer } from './acquisition/token-acquirer';
import type { TokenCache } from './cache/token-cache';
import { CLIENT_CREDENTIALS_OPTIONS } from './client-credentials.module-definition';
import type { ClientCredentialsModuleOptions, GetTokenOptions } from './client-credentials.options';
import type { Credential } from './credentials/credential';
import { CredentialRegistry } from './credentials/credential-registry';
import type { TokenRequest } from './credentials/token-request';
import { guardedLogger, LOG_CONTEXT } from './observability/guarded-logger';
import { TokenMetrics } from './observability/token-metrics';
import { claimsId, revokedBefore } from './options/claims-request';
import { scopeKey } from './options/request-validation';
import type { SharedCacheStats } from './shared-cache/shared-cache-stats';
import { snapshotOf, type CredentialStats } from './observability/credential-stats';

/**
 * Gets access tokens for the app's own identity. Inject it anywhere the module is imported.
 *
 * A call answered from the cache costs one map lookup; concurrent misses share one token request;
 * tokens are refreshed in the background before they expire; while the authority fails, the
 * cached token keeps being served until it expires.
 * @publicApi
 */
@Injectable()
export class TokenService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger: LoggerService;
  private readonly metrics = new TokenMetrics();
  /** Empty until `onModuleInit`: every call fails `credential_unknown` before. */
  private credentials = new CredentialRegistry(undefined);
  /** The token path, from `onModuleInit` on; its parts are kept apart for the hot path. */
  private runtime?: TokenRuntime;
  private cache!: TokenCache;
  private acquirer!: TokenAcquirer;

  /** The options as given: private (#) because they hold secrets. */
  readonly #options: ClientCredentialsModuleOptions;

  constructor(@Inject(CLIENT_CREDENTIALS_OPTIONS) options: ClientCredentialsModuleOptions) {
    this.#options = options;
    // Nest's Logger too: it hands lines to whatever logger the app set with useLogger().
    this.logger = guardedLogger(options?.logger ?? new Logger(LOG_CONTEXT));
    this.metrics.watchSharedCache(() => this.runtime?.shared?.stats);
  }

  /** Validates the options and loads every credential source; a bad option fails `app.init()`. */
  async onModuleInit(): Promise<void> {
    const runtime = await TokenRuntime.start(this.#options, this.metrics, this.logger);
    this.runtime = runtime;
    this.credentials = runtime.credentials;
    this.cache = runtime.cache;
    this.acquirer = runtime.acquirer;
  }

  /**
   * An access token for `scopes` (Entra ID: one `<resource>/.default`).
   * @throws InvalidRequestError before any network call for an unknown credential, bad scopes or tenant
   * @throws TokenRequestRejectedError when the authority refuses (no retry helps)
   * @throws TokenEndpointError when the authority cannot be used and no valid token is cached
   */
  async getAccessToken(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const credential = this.credentials.find(options?.credential);
    if (credential === undefined) throw this.credentials.unknown(options?.credential);
    const tenantId = options?.tenantId ?? credential.options.tenantId;
    const sk = typeof scopes === 'string' ? scopes : scopeKey(scopes);
    if (options?.forceRefresh !== true) {
      // Looked up with the caller's own strings (their hashes are cached): no key is built here.
      const hit = this.cache.serve(this.cache.peek(credential, tenantId, sk), scopes);
      if (hit !== undefined) return hit;
    }
    return this.miss(credential, tenantId, scopes, sk, options);
  }

  /** `"Bearer <token>"`, for an `Authorization` header. */
  async getAuthorizationHeader(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<string> {
    const token = await this.getAccessToken(scopes, options);
    return `${token.tokenType} ${token.token}`;
  }

  /**
   * A token to use instead of `refused`, which an API refused with 401 `invalid_token` (revoked,
   * say): never `refused` again, nor a token older than it. Concurrent callers share one token
   * request, and with `cache.shared` so do the replicas: a replacement another replica stored is
   * adopted without a request. Callers that come later get the replacement from the cache.
   *
   * Undefined when `refused` was itself obtained to replace a refused token, moments ago: an API
   * that refuses every token (a scope of another API, say) gets no new one for a hold-off that
   * doubles per refusal (10 s to 10 min), instead of a token request per call; the caller keeps
   * the API's 401.
   * @throws as {@link getAccessToken}
   */
  async replaceRefusedToken(
    scopes: string | readonly string[],
    refused: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken | undefined> {
    const request = this.credentials.request(scopes, options);
    const entry = this.cache.entryOf(request);
    // Another caller already replaced it.
    const replaced = entry?.token === refused ? undefined : this.cache.serve(entry, scopes);
    if (replaced !== undefined) return this.ofTenant(request, options?.tenantId, replaced);
    request.credential.stats.cacheMisses++;
    const token = await this.acquirer.replace(request, refused, options?.signal);
    return token && this.ofTenant(request, options?.tenantId, token);
  }

  /**
   * Stops serving `refused`, which an API refused, without asking for a new token now: the next
   * call of these scopes gets a new one (from the store when another replica fetched it, else from
   * the authority). Used after a claims challenge, which a claims token answers, and when a request
   * that cannot be sent again was refused.
   *
   * False, and nothing done, while `refused` is itself a token obtained after a refusal of these
   * scopes moments ago (the same hold-off as {@link replaceRefusedToken}'s, whatever the kind of
   * refusal): an API that refuses every token gets no new one, claims token or other, until it
   * ends; the caller keeps the API's 401. `claims`, the decoded claims of the challenge that
   * refused it: a continuous access evaluation challenge naming a revocation after `refused` was
   * obtained (`access_token.nbf`) is a new event, answered even within the hold-off.
   */
  forgetRefusedToken(
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

  /**
   * A token that satisfies `claims`: the decoded `claims` of a resource's claims challenge
   * (`WWW-Authenticate: Bearer error="insufficient_claims", claims="…"`, continuous access
   * evaluation), sent to the authority with the `cp1` client capability. Such a token is cached
   * under its claims: it is served only to callers that ask for the same claims, never by
   * {@link getAccessToken}. Concurrent callers (and replicas) with the same claims share one request.
   * @throws InvalidRequestError `claims_invalid` when `claims` is not a JSON object
   * @throws as {@link getAccessToken}
   */
  async getAccessTokenWithClaims(
    scopes: string | readonly string[],
    claims: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const base = this.credentials.request(scopes, options);
    const id = claimsId(claims);
    // A line break, which no valid scope has: no scope string names this key.
    const request: TokenRequest = { ...base, scopeKey: `${base.scopeKey}\nclaims:${id}`, claims };
    if (options?.forceRefresh !== true) {
      const hit = this.cache.serve(this.cache.entryOf(request), scopes, true);
      if (hit !== undefined) return this.ofTenant(request, options?.tenantId, hit);
    }
    request.credential.stats.cacheMisses++;
    const token = await this.acquirer.acquire(
      request,
      options?.forceRefresh === true,
      options?.signal,
    );
    return this.ofTenant(request, options?.tenantId, token);
  }

  /**
   * Counters of a credential (default: the default credential), for diagnostics and health: a
   * snapshot, which later calls do not change.
   * @throws InvalidRequestError `credential_unknown` for a name that is not configured
   */
  getStats(credential?: string): CredentialStats {
    return snapshotOf(this.credentials.get(credential).stats);
  }

  /**
   * Counters of the shared (Redis) cache: reads, writes, rejected entries, Redis errors, lock
   * waits — a snapshot, which later calls do not change. Undefined without `cache.shared`.
   */
  getCacheStats(): SharedCacheStats | undefined {
    const live = this.runtime?.shared?.stats;
    return live && { ...live };
  }

  /**
   * The tenant a credential (default: the default credential) gets tokens of when a call names
   * none: its `tenantId` as configured; for a managed identity, the tenant its tokens name (`tid`)
   * once it got one.
   */
  tenantOf(credential?: string): string {
    return this.credentials.get(credential).tenantId;
  }

  /**
   * Whether a credential (default: the default credential) has tokens of its own tenant only — a
   * managed identity, or an OIDC issuer named by its URL: a `tenantId` asked of it is served when
   * it is that tenant (however spelt, or learned from a managed identity's first token) and
   * refused (`tenant_unsupported`) otherwise. Other credentials get tokens of any tenant that
   * consented to their app.
   */
  isSingleTenant(credential?: string): boolean {
    return this.credentials.get(credential).ownTenantOnly;
  }

  /** Names of the configured credentials. */
  get credentialNames(): string[] {
    return this.credentials.names;
  }

  /** The configured credentials and their sources, without secrets. */
  toJSON(): Record<string, unknown> {
    return {
      credentials: Object.fromEntries(this.credentials.all.map((c) => [c.name, c.toJSON()])),
    };
  }

  [inspect.custom](): string {
    return `TokenService ${inspect(this.toJSON(), { depth: 4 })}`;
  }

  /** Stops timers and retries, closes connections and the cache it created. */
  async onApplicationShutdown(): Promise<void> {
    this.credentials.close();
    await this.runtime?.close();
  }

  private async miss(
    credential: Credential,
    tenantId: string,
    scopes: string | readonly string[],
    sk: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const request = this.credentials.validate(credential, tenantId, scopes, sk);
    if (request.tenantId !== tenantId && options?.forceRefresh !== true) {
      // The tenant spelt in another case, or a single-tenant credential's own tenant named: its
      // token may be in memory under the usual key.
      const hit = this.cache.serve(this.cache.entryOf(request), scopes);
      if (hit !== undefined) return this.ofTenant(request, tenantId, hit);
    }
    credential.stats.cacheMisses++;
    const token = await this.acquirer.acquire(
      request,
      options?.forceRefresh === true,
      options?.signal,
    );
    return this.ofTenant(request, tenantId, token);
  }

  /**
   * `token`, when the tenant the call named (`asked`) is the token's: a managed identity named a
   * tenant before its own was known is checked once its token shows it.
   * @throws InvalidRequestError `tenant_unsupported`
   */
  private ofTenant(
    request: TokenRequest,
    asked: string | undefined,
    token: AccessToken,
  ): AccessToken {
    if (asked !== undefined && asked !== request.tenantId) {
      request.credential.assertOwnTenant(asked);
    }
    return token;
  }
}

import {
  Inject,
  Injectable,
  Logger,
  LoggerService,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { inspect } from 'node:util';
import type { Cache } from 'cache-manager';
import type { AccessToken } from './access-token';
import { claimsId } from './options/claims-request';
import { CLIENT_CREDENTIALS_OPTIONS } from './client-credentials.module-definition';
import type { ClientCredentialsModuleOptions, GetTokenOptions } from './client-credentials.options';
import { Credential } from './credentials/credential';
import { CredentialRegistry } from './credentials/credential-registry';
import { guardedLogger, LOG_CONTEXT } from './observability/guarded-logger';
import { ConfigurationError } from './errors/client-credentials.errors';
import { resolveOptions } from './options/resolve-options';
import type { ResolvedOptions, TokenPolicy } from './options/resolved-options';
import { createSharedCache, type SharedCache } from './shared-cache/shared-cache';
import type { SharedCacheStats } from './shared-cache/shared-cache-stats';
import { scopeKey } from './options/request-validation';
import { TokenAcquirer } from './acquisition/token-acquirer';
import { TokenCache, type CachedEntry, type TokenRequest } from './cache/token-cache';
import { CredentialStats, TokenMetrics } from './observability/token-metrics';
import { TokenRefresher } from './acquisition/token-refresher';

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
  private cache!: TokenCache;
  private acquirer!: TokenAcquirer;
  private refresher!: TokenRefresher;
  /** The Redis-backed cache of `cache.shared`. */
  private shared?: SharedCache;
  private closed = false;

  /** The options as given: private (#) because they hold secrets. */
  readonly #options: ClientCredentialsModuleOptions;

  constructor(@Inject(CLIENT_CREDENTIALS_OPTIONS) options: ClientCredentialsModuleOptions) {
    this.#options = options;
    // Nest's Logger too: it hands lines to whatever logger the app set with useLogger().
    this.logger = guardedLogger(options?.logger ?? new Logger(LOG_CONTEXT));
    this.metrics.watchSharedCache(() => this.getCacheStats());
  }

  /** Validates the options and loads every credential source; a bad option fails `app.init()`. */
  async onModuleInit(): Promise<void> {
    const resolved = resolveOptions(this.#options);
    this.credentials = new CredentialRegistry(resolved.defaultCredential);
    const store = resolved.cache.store ?? (await this.createStore(resolved));
    this.cache = new TokenCache(
      store,
      resolved.cache.maxEntries,
      resolved.refresh.expirySkewSeconds * 1000,
      resolved.refresh.jitter,
      this.logger,
    );
    // Timings and bounds only: no object reachable from this service holds a credential's secret.
    const policy: TokenPolicy = {
      maxEntries: resolved.cache.maxEntries,
      refresh: resolved.refresh,
      retry: resolved.retry,
      timeouts: resolved.timeouts,
    };
    this.acquirer = new TokenAcquirer(this.cache, policy, this.logger, this.shared?.flight);
    this.refresher = new TokenRefresher(this.acquirer, this.cache, policy, this.logger);
    const problems: string[] = [];
    for (const [name, options] of resolved.credentials) {
      const credential = new Credential(
        options,
        {
          requestMs: resolved.timeouts.requestMs,
          managedIdentityMs: resolved.timeouts.managedIdentityMs,
          sourceCoolDownMs: resolved.retry.sourceCoolDownMs,
        },
        resolved.cache.keyPrefix,
        this.metrics,
        this.logger,
      );
      this.credentials.add(credential);
      problems.push(...(await credential.init()).map((p) => `credentials.${name}.${p}`));
    }
    if (problems.length > 0) {
      await this.onApplicationShutdown();
      throw new ConfigurationError(problems);
    }
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
      const hit = this.fromMemory(this.cache.peek(credential, tenantId, sk), credential, scopes);
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
    const replaced =
      entry?.token === refused ? undefined : this.fromMemory(entry, request.credential, scopes);
    if (replaced !== undefined) return replaced;
    request.credential.stats.cacheMisses++;
    return this.acquirer.replace(request, refused, options?.signal);
  }

  /**
   * Stops serving `refused`, which an API refused, without asking for a new token now: the next
   * call of these scopes gets a new one (from the store when another replica fetched it, else from
   * the authority). Used after a claims challenge, which a claims token answers.
   */
  forgetRefusedToken(
    scopes: string | readonly string[],
    refused: string,
    options?: Omit<GetTokenOptions, 'forceRefresh' | 'signal'>,
  ): void {
    this.acquirer.forget(this.credentials.request(scopes, options), refused);
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
      const hit = this.fromMemory(this.cache.entryOf(request), request.credential, scopes, true);
      if (hit !== undefined) return hit;
    }
    request.credential.stats.cacheMisses++;
    return this.acquirer.acquire(request, options?.forceRefresh === true, options?.signal);
  }

  /** Counters of a credential (default: the default credential), for diagnostics and health. */
  getStats(credential?: string): Readonly<CredentialStats> {
    return this.credentials.get(credential).stats;
  }

  /**
   * Counters of the shared (Redis) cache: reads, writes, rejected entries, Redis errors, lock
   * waits. Undefined without `cache.shared`.
   */
  getCacheStats(): Readonly<SharedCacheStats> | undefined {
    return this.shared?.stats;
  }

  /**
   * The tenant a credential (default: the default credential) gets tokens of when a call names
   * none: its `tenantId` as configured.
   */
  tenantOf(credential?: string): string {
    return this.credentials.get(credential).options.tenantId;
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
    if (this.closed) return;
    this.closed = true;
    this.credentials.close();
    this.refresher?.close();
    this.acquirer?.close();
    this.cache?.clear();
    await Promise.all(this.credentials.all.map((c) => c.close()));
    await this.shared?.close();
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
      // The tenant spelt in another case: its token may be in memory under the usual spelling.
      const hit = this.fromMemory(this.cache.entryOf(request), credential, scopes);
      if (hit !== undefined) return hit;
    }
    credential.stats.cacheMisses++;
    return this.acquirer.acquire(request, options?.forceRefresh === true, options?.signal);
  }

  /**
   * The answer of a cache hit, when `entry` may be served for `scopes` (of a claims request when
   * `claims`) now. The hot path.
   */
  private fromMemory(
    entry: CachedEntry | undefined,
    credential: Credential,
    scopes: string | readonly string[],
    claims = false,
  ): AccessToken | undefined {
    if (entry === undefined) return undefined;
    // A scope key joins scopes with spaces, which no valid scope has: asking for as many scopes as
    // the entry holds proves the asked ones have none either — `'a b'` or `['a b', 'c']` are
    // not served from the entry of ['a', 'b'] or ['a', 'b', 'c'] (the miss path refuses them).
    const asked =
      typeof scopes === 'string' ? 1 : scopes.length < 2 ? scopes.length : new Set(scopes).size;
    // A claims token's count is negative: a plain call never gets it, whatever key it names.
    if ((claims ? -asked : asked) !== entry.scopeCount) return undefined;
    const now = Date.now();
    // Written so that a time that is not a number never serves.
    if (!(now < entry.usableUntil)) return undefined;
    entry.hits++;
    credential.stats.cacheHits++;
    if (now >= entry.refreshAt && !entry.refreshing) this.refresher.refresh(entry);
    return entry.hit;
  }

  /**
   * The store behind the in-process index: encrypted Redis with `cache.shared`; none otherwise
   * (the index is then the whole cache, and no second copy of each token is kept).
   */
  private async createStore(resolved: ResolvedOptions): Promise<Cache | undefined> {
    const { shared, keyPrefix } = resolved.cache;
    if (shared === undefined) return undefined;
    this.shared = await createSharedCache(shared, keyPrefix, this.logger);
    return this.shared.store;
  }
}

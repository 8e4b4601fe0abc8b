import {
  Inject,
  Injectable,
  Logger,
  LoggerService,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
  Optional,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { inspect } from 'node:util';
import { Observable } from 'rxjs';
import type { AccessToken } from './access-token';
import type { TokenCalls } from './acquisition/token-calls';
import { TokenRuntime } from './acquisition/token-runtime';
import type { WarmUp } from './acquisition/warm-up';
import type { TokenCache } from './cache/token-cache';
import type { ClientCredentialsEvent, WarmUpStatus } from './client-credentials.events';
import { CLIENT_CREDENTIALS_OPTIONS } from './client-credentials.module-definition';
import type {
  BoundCertificate,
  ClientCredentialsModuleOptions,
  GetTokenOptions,
  ProofRequest,
  RequestHeaders,
  TokenBinding,
} from './client-credentials.options';
import { agentOf, CredentialRegistry } from './credentials/credential-registry';
import {
  bindingOf,
  boundCertificateOf,
  proofRequired,
  requestHeadersOf,
} from './credentials/token-binding';
import { snapshotOf, type CredentialStats } from './observability/credential-stats';
import { bridgeEventEmitter } from './observability/event-emitter-bridge';
import { guardedLogger, LOG_CONTEXT } from './observability/guarded-logger';
import { observableOf } from './observability/token-events';
import { TokenMetrics } from './observability/token-metrics';
import { scopeKey } from './options/request-validation';
import type { SharedCacheStats } from './shared-cache/shared-cache-stats';

/**
 * Gets access tokens for the app's own identity. Inject it anywhere the module is imported.
 *
 * A call answered from the cache costs one map lookup; concurrent misses share one token request;
 * tokens are refreshed in the background before they expire; while the authority fails, the
 * cached token keeps being served until it expires.
 * @publicApi
 */
@Injectable()
export class TokenService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: LoggerService;
  private readonly metrics = new TokenMetrics();
  /** Empty until `onModuleInit`: every call fails `credential_unknown` before. */
  private credentials = new CredentialRegistry(undefined);
  /**
   * The token path, from `onModuleInit` on; its parts are kept apart for the hot path, in #private
   * fields: the cache holds the tokens, and no property walk of the service (a debugger's view, a
   * serialiser, `inspect` without its custom hook) may reach them.
   */
  #runtime?: TokenRuntime;
  #cache!: TokenCache;
  #calls!: TokenCalls;

  /** The options as given: private (#) because they hold secrets. */
  readonly #options: ClientCredentialsModuleOptions;
  /** Where the app's `@nestjs/event-emitter` is found, if it has one. */
  readonly #providers?: ModuleRef;
  /** Disconnects the event-emitter bridge. */
  #unbridge?: () => void;
  /** The `warmUp` option's tokens, obtained at `app.init()` or in the background. */
  #warmUp?: WarmUp;

  /**
   * What happens in the background, as it happens: each background refresh's outcome, failed
   * acquisitions, sources of a chain skipped and restored, refused tokens, the warm-up's end
   * ({@link ClientCredentialsEvent}, told apart by `type`). Hot: an event is seen by those
   * subscribed when it happens; it completes when the app shuts down. An event is built only while
   * someone subscribes, and never on the cache-hit path. No event holds a token or a secret.
   * A subscriber must not throw: rxjs reports its error as unhandled (an `uncaughtException`).
   *
   * With `@nestjs/event-emitter` installed and `EventEmitterModule.forRoot()` imported, the same
   * events are emitted as `client-credentials.<type>` for `@OnEvent` handlers.
   * @example
   * tokens.events
   *   .pipe(filter((e) => e.type === 'refresh' && e.outcome === 'failed'))
   *   .subscribe((e) => alerts.raise(`token refresh failed: ${e.credential}`));
   */
  readonly events: Observable<ClientCredentialsEvent> = observableOf(this.metrics.events);

  constructor(
    @Inject(CLIENT_CREDENTIALS_OPTIONS) options: ClientCredentialsModuleOptions,
    @Optional() providers?: ModuleRef,
  ) {
    this.#options = options;
    this.#providers = providers;
    // Nest's Logger too: it hands lines to whatever logger the app set with useLogger().
    this.logger = guardedLogger(options?.logger ?? new Logger(LOG_CONTEXT));
    // Live counters, read at each collection (getCacheStats() hands out copies).
    this.metrics.watchSharedCache(() => this.#runtime?.shared?.stats);
    this.metrics.events.onListenerError = (e) => {
      this.logger.warn(`An event listener threw; the token path goes on. ${String(e)}`);
    };
  }

  /** Validates the options and loads every credential source; a bad option fails `app.init()`. */
  async onModuleInit(): Promise<void> {
    this.#unbridge = bridgeEventEmitter(this.#providers, this.metrics.events);
    const runtime = await TokenRuntime.start(this.#options, this.metrics, this.logger, this);
    this.#runtime = runtime;
    this.credentials = runtime.credentials;
    this.#cache = runtime.cache;
    this.#calls = runtime.calls;
    try {
      this.#warmUp = runtime.warmUp(this);
    } catch (e) {
      await this.failedInit();
      throw e;
    }
  }

  /**
   * Runs the warm-up (`warmUp` option): with `wait: 'init'`, `app.init()` waits for it and fails
   * with `warm_up_failed` when a token is not obtained; with `wait: 'background'`, it runs on.
   */
  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.#warmUp?.start();
    } catch (e) {
      await this.failedInit();
      throw e;
    }
  }

  /**
   * Where the warm-up (`warmUp` option) is: its tokens declared and obtained, per credential and in
   * all, and those given up on; undefined without the option. The health indicator reports a
   * credential `down` while its warm-up tokens are pending.
   */
  getWarmUpStatus(): WarmUpStatus | undefined {
    return this.#warmUp?.status();
  }

  /**
   * An access token for `scopes` (Entra ID: one `<resource>/.default`).
   * @throws InvalidRequestError before any network call for an unknown credential, bad scopes or tenant
   * @throws ClientCredentialsError `aborted` when `options.signal` aborts before the token is
   * there — at once for a signal aborted already, even when the token is cached
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
    // A call without options tests `options` once, as before; a caller that gave up already
    // (its signal aborted) is never told it got a token: the miss path refuses it `aborted`.
    if (options === undefined || (options.forceRefresh !== true && !options.signal?.aborted)) {
      // An agent's token (Entra Agent ID) is indexed under its agent, found by the name the call
      // gives: one map lookup more, no string built. An agent user named without its agent finds
      // nothing here: the miss path refuses it.
      const principal =
        options?.agent === undefined && options?.agentUser === undefined
          ? credential
          : agentOf(credential, options);
      // Looked up with the caller's own strings (their hashes are cached): no key is built here.
      const hit = principal && this.#cache.serve(this.#cache.peek(principal, tenantId, sk), scopes);
      if (hit !== undefined) return hit;
    }
    return this.#calls.miss(credential, tenantId, scopes, sk, options);
  }

  /**
   * `"Bearer <token>"`, for an `Authorization` header.
   * @throws InvalidRequestError `proof_required` for a credential whose tokens are bound (`dpop`,
   * `mtls`): of no use without a proof per request or the certificate on the connection — use
   * {@link getRequestHeaders} (and {@link boundCertificate})
   */
  async getAuthorizationHeader(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<string> {
    const credential = this.credentials.find(options?.credential);
    if (credential !== undefined && bindingOf(credential) !== 'bearer') {
      throw proofRequired(credential.name, bindingOf(credential), 'getAuthorizationHeader()');
    }
    const token = await this.getAccessToken(scopes, options);
    return `${token.tokenType} ${token.token}`;
  }

  /**
   * The headers that authenticate one request to `request.url`: `authorization`, and for a DPoP
   * credential `dpop`, a fresh proof of this request — its method, its URL without query, the
   * token's hash (`ath`) and the API's nonce when it gave one (`DPoP-Nonce`). The integrations
   * (fetch, axios, downstream APIs) do this on every request themselves.
   * @example
   * const headers = await tokens.getRequestHeaders('api://orders/.default', { method: 'GET', url });
   * await fetch(url, { headers });
   * @throws as {@link getAccessToken}
   */
  async getRequestHeaders(
    scopes: string | readonly string[],
    request: ProofRequest,
    options?: GetTokenOptions,
  ): Promise<RequestHeaders> {
    return this.requestHeaders(await this.getAccessToken(scopes, options), request);
  }

  /**
   * The headers that send `token` (from {@link getAccessToken}) with one request: see
   * {@link getRequestHeaders}. A DPoP-bound token gets a proof signed with its credential's key.
   * @throws InvalidRequestError `proof_required` for a DPoP token whose credential has no key here
   */
  requestHeaders(token: AccessToken, request: ProofRequest): RequestHeaders {
    return requestHeadersOf(token, request, this.credentials);
  }

  /**
   * How a credential's (default: the default credential's) tokens are sent: `bearer` — as they
   * are; `dpop` — bound to its DPoP key, each request with a proof ({@link requestHeaders});
   * `mtls` — bound to its certificate, over connections presenting it ({@link boundCertificate}).
   */
  tokenBinding(credential?: string): TokenBinding {
    return bindingOf(this.credentials.get(credential));
  }

  /**
   * The certificate `token` is bound to (a credential with `mtls`), to present on the connection
   * that sends it to the API — the calling integrations do so themselves; undefined for a token
   * bound to no certificate.
   * @example
   * const token = await tokens.getAccessToken('api://orders/.default');
   * const headers = tokens.requestHeaders(token, { method: 'GET', url });
   * await fetch(url, { headers, dispatcher: tokens.boundCertificate(token)?.dispatcher({ ca }) });
   * @throws InvalidRequestError `proof_required` when the certificate is no longer held here (its
   * credential is gone, or several rotations have passed since the token was issued)
   */
  boundCertificate(token: AccessToken): BoundCertificate | undefined {
    return boundCertificateOf(token, this.credentials);
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
    return this.#calls.replace(scopes, refused, options);
  }

  /**
   * Checks a call as {@link getAccessToken} would — credential, scopes, tenant — without asking
   * for a token: for configuration that names them (a downstream API's), checked at startup.
   * @throws InvalidRequestError as {@link getAccessToken} would before any network call
   */
  checkRequest(
    scopes: string | readonly string[],
    options?: Pick<GetTokenOptions, 'credential' | 'tenantId' | 'agent' | 'agentUser'>,
  ): void {
    this.credentials.request(scopes, options);
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
    return this.#calls.forget(scopes, refused, options);
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
    return this.#calls.withClaims(scopes, claims, options);
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
    const live = this.#runtime?.shared?.stats;
    return live && { ...live };
  }

  /**
   * The tenant a credential (default: the default credential) gets tokens of when a call names
   * none: its `tenantId` as configured; for a managed identity, the tenant its tokens name (`tid`)
   * once it got one.
   */
  tenantOf(credential?: string): string {
    return this.credentials.get(credential).tenants.current;
  }

  /**
   * Whether a credential (default: the default credential) has tokens of its own tenant only — a
   * managed identity, or an OIDC issuer named by its URL: a `tenantId` asked of it is served when
   * it is that tenant (however spelt, or learned from a managed identity's first token) and
   * refused (`tenant_unsupported`) otherwise. Other credentials get tokens of any tenant that
   * consented to their app.
   */
  isSingleTenant(credential?: string): boolean {
    return this.credentials.get(credential).tenants.ownOnly;
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
    this.#warmUp?.close();
    this.#unbridge?.();
    this.metrics.close();
    this.credentials.close();
    await this.#runtime?.close();
  }

  /**
   * Shuts the service down before `app.init()` fails: Nest runs no shutdown hook after a failed
   * init, and Redis, the pools and the refresh timer would keep alive a process that will never
   * be ready.
   */
  private async failedInit(): Promise<void> {
    await this.onApplicationShutdown();
  }
}

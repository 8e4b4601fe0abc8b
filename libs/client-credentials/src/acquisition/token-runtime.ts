import type { LoggerService } from '@nestjs/common';
import type { AccessToken } from '../access-token';
import { TokenCache } from '../cache/token-cache';
import type { ClientCredentialsModuleOptions } from '../client-credentials.options';
import { Credential } from '../credentials/credential';
import { CredentialRegistry } from '../credentials/credential-registry';
import { ConfigurationError } from '../errors/client-credentials.errors';
import type { TokenMetrics } from '../observability/token-metrics';
import { resolveOptions } from '../options/resolve-options';
import type { ResolvedWarmUp, TokenPolicy } from '../options/resolved-options';
import { createSharedCache, type SharedCache } from '../shared-cache/shared-cache';
import type { CredentialTokens } from '../signing/vault-credential';
import { observeWallClock } from '../timing/clock';
import { TokenAcquirer } from './token-acquirer';
import { TokenCalls } from './token-calls';
import { TokenRefresher } from './token-refresher';
import { WarmUp } from './warm-up';
import { warmUpCalls, warmUpProblems, type WarmUpService } from './warm-up-calls';

/**
 * What the runtime calls of its token service (a structure: no layer below imports the service):
 * the vaults of `key-vault` sources and the warm-up get tokens as any caller does.
 */
export interface TokenServiceCalls extends WarmUpService {
  getAccessToken(
    scopes: string | readonly string[],
    options: { credential?: string; tenantId?: string; agent?: string; signal?: AbortSignal },
  ): Promise<AccessToken>;
  getAccessTokenWithClaims(
    scopes: string | readonly string[],
    claims: string,
    options: { credential?: string; tenantId?: string; signal?: AbortSignal },
  ): Promise<AccessToken>;
  forgetRefusedToken(
    scopes: string | readonly string[],
    refused: string,
    options: { credential?: string; tenantId?: string; claims?: string },
  ): boolean;
  isSingleTenant(credential?: string): boolean;
}

/**
 * The token path of one `TokenService`, wired from its options: the credentials, the cache and its
 * store (encrypted Redis with `cache.shared`), the acquirer and the background refresher. Built at
 * `app.init()`; a bad option fails there, after whatever was opened is closed again.
 */
export class TokenRuntime {
  private closed = false;
  /** Compares the wall clock with the library's every second (see observeWallClock). */
  private readonly clockWatch = setInterval(observeWallClock, 1000).unref();
  /** What a call does past the cache-hit path: misses, claims, refused tokens. */
  readonly calls: TokenCalls;

  private constructor(
    readonly credentials: CredentialRegistry,
    readonly cache: TokenCache,
    readonly acquirer: TokenAcquirer,
    readonly refresher: TokenRefresher,
    /** The Redis-backed cache of `cache.shared`. */
    readonly shared: SharedCache | undefined,
    /** The retry settings (a warm-up's backoff). */
    private readonly retry: TokenPolicy['retry'],
    /** The `warmUp` option. */
    private readonly warmUpSettings: ResolvedWarmUp | undefined,
    private readonly metrics: TokenMetrics,
    private readonly logger: LoggerService,
  ) {
    this.calls = new TokenCalls(credentials, cache, acquirer);
  }

  /**
   * Validates `options`, connects the shared cache and loads every credential source.
   * @throws ConfigurationError naming every problem found
   */
  static async start(
    options: ClientCredentialsModuleOptions,
    metrics: TokenMetrics,
    logger: LoggerService,
    /** The token service: a `key-vault` source's vault takes tokens of another credential from it. */
    service: TokenServiceCalls,
  ): Promise<TokenRuntime> {
    const tokensOf = (name: string): CredentialTokens => ({
      name,
      getAccessToken: (scopes, o) => service.getAccessToken(scopes, { ...o, credential: name }),
      getAccessTokenWithClaims: (scopes, claims, o) =>
        service.getAccessTokenWithClaims(scopes, claims, { ...o, credential: name }),
      forgetRefusedToken: (scopes, refused, o) =>
        service.forgetRefusedToken(scopes, refused, { ...o, credential: name }),
      tenantOf: () => service.tenantOf(name),
      tenantIdOf: () => credentials.get(name).tenants.id,
      isSingleTenant: () => service.isSingleTenant(name),
    });
    const resolved = resolveOptions(options);
    const { cache: cacheOptions, refresh, retry, timeouts } = resolved;
    // The store behind the in-process index: encrypted Redis with `cache.shared`, the app's own
    // store, or none (the index is then the whole cache: no second copy of each token is kept).
    const shared =
      cacheOptions.shared === undefined
        ? undefined
        : await createSharedCache(cacheOptions.shared, cacheOptions.keyPrefix, logger);
    const cache = new TokenCache(
      cacheOptions.store ?? shared?.store,
      cacheOptions.maxEntries,
      refresh.expirySkewSeconds * 1000,
      refresh.jitter,
      logger,
      timeouts.requestMs,
    );
    // Timings and bounds only: no object reachable from the service holds a credential's secret.
    const policy: TokenPolicy = { maxEntries: cacheOptions.maxEntries, refresh, retry, timeouts };
    const acquirer = new TokenAcquirer(cache, policy, logger, shared?.flight, metrics);
    const refresher = new TokenRefresher(acquirer, cache, policy, logger, metrics);
    // Refreshes held while Redis could not be used go as soon as it is back.
    shared?.onRecovered(() => refresher.wake());
    const credentials = new CredentialRegistry(resolved.defaultCredential);
    const runtime = new TokenRuntime(
      credentials,
      cache,
      acquirer,
      refresher,
      shared,
      retry,
      resolved.warmUp,
      metrics,
      logger,
    );
    const problems: string[] = [];
    for (const [name, credentialOptions] of resolved.credentials) {
      const credential = new Credential(
        credentialOptions,
        {
          requestMs: timeouts.requestMs,
          managedIdentityMs: timeouts.managedIdentityMs,
          sourceCoolDownMs: retry.sourceCoolDownMs,
          maxAgents: cacheOptions.maxEntries,
          maxRetryAfterMs: retry.maxRetryAfterMs,
        },
        cacheOptions.keyPrefix,
        metrics,
        logger,
        tokensOf,
      );
      credentials.add(credential);
      // An agent's legs get each other's tokens through the same acquirer: one cache, one flight
      // per leg (across replicas too), cool-downs and refusals as for any token.
      if (credential.agents !== undefined) {
        credential.agents.tokens = {
          token: async (request) => (await acquirer.acquire(request, false)).token,
          // The authority refused the leg's token as a client assertion (or user credential).
          refuse: (request, token) => void acquirer.forget(request, token, undefined, 'authority'),
          drop: (principal) => cache.forgetPrincipal(principal),
        };
      }
      problems.push(...(await credential.init()).map((p) => `credentials.${name}.${p}`));
    }
    if (problems.length > 0) {
      await runtime.close();
      throw new ConfigurationError(problems);
    }
    return runtime;
  }

  /**
   * The warm-up of the `warmUp` option, through `service` once it serves this runtime's
   * credentials; undefined without the option. Its declared tokens are checked as calls are: a
   * wrong one fails `app.init()` like an option.
   * @throws ConfigurationError naming each declared token a call could not ask for
   */
  warmUp(service: WarmUpService): WarmUp | undefined {
    const settings = this.warmUpSettings;
    if (settings === undefined) return undefined;
    const problems = warmUpProblems(settings, service);
    if (problems.length > 0) throw new ConfigurationError(problems);
    const nameOf = (credential?: string) => this.credentials.get(credential).name;
    const calls = warmUpCalls(service, nameOf);
    return new WarmUp(settings, this.retry, calls, this.metrics.events, this.logger);
  }

  /** Stops timers and retries, closes connections and the shared cache. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.clockWatch);
    this.credentials.close();
    this.refresher.close();
    this.acquirer.close();
    this.cache.clear();
    await Promise.all(this.credentials.all.map((c) => c.close()));
    await this.shared?.close();
  }
}

import type { SecureContext } from 'node:tls';
import type { LoggerService } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import type { Dispatcher } from 'undici';
import type { CredentialOptions } from './credential.options';
import type { SharedCacheOptions } from './shared-cache.options';

/** Where tokens are cached. */
export interface CacheOptions {
  /**
   * A cache-manager `Cache` of the app's to hold tokens. Its entries are plain JSON access tokens,
   * neither encrypted nor authenticated: whoever can write to that store can hand this service a
   * token of their choosing, and whoever can read it can use the tokens. Use it only with a store
   * as trusted as the process itself; for Redis shared by replicas use `shared`, which seals each
   * entry (AES-256-GCM, authenticated with its key) and rejects anything it did not seal.
   * @default none: tokens live in process memory only (bounded by `maxEntries`)
   */
  store?: Cache;
  /**
   * Most tokens kept in process memory (the hot path's index). Past it the oldest are dropped
   * from memory; they are read back from `store` when needed.
   * @default 10000
   */
  maxEntries?: number;
  /**
   * Prefix of the keys written to `store` (and to Redis with `shared`).
   * @default 'client-credentials:'
   */
  keyPrefix?: string;
  /**
   * A token cache shared by replicas through Redis: memory in front of Redis, encrypted entries,
   * one token request across replicas. Not combinable with `store`.
   * @default undefined (each process caches for itself)
   * @example
   * shared: { redisUrl: 'redis://redis:6379', encryptionKeys: [{ id: 'k1', key: process.env.TOKEN_CACHE_KEY }] }
   */
  shared?: SharedCacheOptions;
}

/** When tokens are refreshed. */
export interface RefreshOptions {
  /**
   * Fraction of a token's lifetime after which it is refreshed in the background, when the
   * authority sends no `refresh_in`. `refreshAt − jitter` must be at least 0.1: a token is never
   * refreshed before a tenth of its life (an authority's `refresh_in` is floored the same way).
   * @default 0.5
   */
  refreshAt?: number;
  /**
   * Random spread of the refresh time, as a fraction of the lifetime, so that many tokens and
   * replicas do not refresh at the same instant (at most 0.25). Replicas that share a token
   * through Redis also spread their own refresh points by this much.
   * @default 0.05
   */
  jitter?: number;
  /**
   * A token is treated as expired this many seconds before its `exp` (clock skew, request
   * latency). Never more than a quarter of the token's lifetime.
   * @default 120
   */
  expirySkewSeconds?: number;
}

/** How failed token requests are retried. */
export interface RetryOptions {
  /**
   * Attempts for one token acquisition by a waiting caller (transient failures only).
   * @default 3
   */
  maxAttempts?: number;
  /**
   * First backoff delay; doubles per attempt, with full jitter.
   * @default 200
   */
  initialDelayMs?: number;
  /**
   * Longest backoff delay between retries. (After a failed acquisition, callers of the same
   * token fail fast for at most 5 s, or the authority's Retry-After.)
   * @default 30000
   */
  maxDelayMs?: number;
  /**
   * The longest `Retry-After` honoured (at most 60 s). A longer one — a misbehaving proxy's
   * `Retry-After: 86400` — is cut to this, so that callers and the background refresh try again
   * within a minute instead of being locked out for as long as it says.
   * @default 60000
   */
  maxRetryAfterMs?: number;
  /**
   * How long a skipped credential source (unavailable or rejected) is passed over before it is
   * tried again.
   * @default 60000
   */
  sourceCoolDownMs?: number;
}

/** Time limits. */
export interface TimeoutOptions {
  /**
   * One HTTP request to the authority.
   * @default 10000
   */
  requestMs?: number;
  /**
   * The longest a caller waits for a token that is not cached, retries included.
   * @default 30000
   */
  acquireMs?: number;
  /**
   * One request to the managed identity endpoint (App Service, IMDS…).
   * @default 5000
   */
  managedIdentityMs?: number;
}

/**
 * A token the warm-up obtains — once for each tenant of `tenants` and each agent of `agents`
 * (every combination): what the app will ask for first, declared so that it is cached before the
 * first call needs it.
 */
export interface WarmUpToken {
  /**
   * The credential.
   * @default the default credential
   */
  credential?: string;
  /** The scopes, as `getAccessToken` takes them (Entra ID: one `<resource>/.default`). */
  scopes: string | string[];
  /**
   * Tenants to get it in (a multi-tenant app's customers).
   * @default the credential's own tenant
   */
  tenants?: string[];
  /**
   * Agent identities of a blueprint credential whose own tokens to get (names of
   * `agentBlueprint.agents` or agent app ids): each one's two legs are obtained.
   * @default none: the credential's own token
   */
  agents?: string[];
}

/**
 * Tokens obtained when the app starts, before it needs them: the first scheduled run after a
 * deploy does not pay the token request, and a managed identity endpoint that is still starting
 * (seconds after a container starts) is waited for within a bound rather than failing a call.
 * @example
 * warmUp: { tokens: [{ scopes: 'https://graph.microsoft.com/.default' }], wait: 'background' }
 */
export interface WarmUpOptions {
  /** The tokens to obtain. */
  tokens: WarmUpToken[];
  /**
   * `init`: `app.init()` (and `app.listen()`) waits until every token is obtained, and fails with
   * `warm_up_failed` when one cannot be within `timeoutMs` — for a worker that must not start
   * without its tokens. `background`: the app starts at once; the health indicator reports the
   * credentials `down` (not ready) until their tokens are obtained — for a server behind a
   * readiness probe. A token whose failure may pass is asked for again past `timeoutMs` (at most
   * every `retry.maxDelayMs`) until it is obtained or the app shuts down.
   * @default 'init'
   */
  wait?: 'init' | 'background';
  /**
   * How long the warm-up keeps trying a token whose failure may pass — a managed identity
   * endpoint not answering yet, an identity not yet assigned, a 5xx, a timeout — from its start,
   * before it ends as failed (`wait: 'init'`: `app.init()` fails), or is reported failed and goes
   * on retrying (`wait: 'background'`). A failure no retry helps (a rejected secret, an unknown
   * scope) ends it at once.
   * @default 60000
   */
  timeoutMs?: number;
}

/**
 * Options of {@link ClientCredentialsModule}.
 * @publicApi
 */
export interface ClientCredentialsModuleOptions {
  /** Named credentials; `getAccessToken(scope, { credential })` picks one. */
  credentials: Record<string, CredentialOptions>;
  /** The credential used when a call names none; may be omitted when there is exactly one. */
  defaultCredential?: string;
  cache?: CacheOptions;
  refresh?: RefreshOptions;
  retry?: RetryOptions;
  timeouts?: TimeoutOptions;
  /**
   * Tokens obtained when the app starts (see {@link WarmUpOptions}).
   * @default none
   */
  warmUp?: WarmUpOptions;
  /**
   * Where the library logs (never a secret or token).
   * @default Nest's Logger with context 'ClientCredentials'
   */
  logger?: LoggerService;
}

/** Per-call options of {@link TokenService.getAccessToken}. */
export interface GetTokenOptions {
  /** Name of the credential to use. @default the default credential */
  credential?: string;
  /** Tenant to get the token in (multi-tenant apps). @default the credential's `tenantId` */
  tenantId?: string;
  /**
   * An agent identity of the credential, an agent identity blueprint (`agentBlueprint`): its
   * application (client) ID, or a name of `agentBlueprint.agents`. The token is the agent's own
   * (`azp`/`oid` the agent), in the call's tenant (the agent's home tenant). See docs/agents.md.
   * @default none: the credential's own token
   */
  agent?: string;
  /**
   * The agent user of `agent` (its user principal name, or its object ID): a delegated token of
   * that user, through the `user_fic` grant (a third leg). Needs `agent`. Scopes are the
   * delegated scopes to ask for, e.g. `https://graph.microsoft.com/User.Read`.
   */
  agentUser?: string;
  /** Skip the cache and ask the authority (still shared with concurrent callers). */
  forceRefresh?: boolean;
  /**
   * Stop waiting; the request itself carries on for other callers. A signal aborted already fails
   * the call `aborted`, even when the token is cached.
   */
  signal?: AbortSignal;
}

/**
 * How a credential's tokens are sent: `bearer` — as they are (`Authorization: Bearer`); `dpop` —
 * bound to the credential's DPoP key (`Authorization: DPoP` plus a proof per request); `mtls` —
 * bound to its certificate (RFC 8705 `Bearer`, Entra `mtls_pop`), over connections presenting that
 * certificate ({@link BoundCertificate}).
 */
export type TokenBinding = 'bearer' | 'dpop' | 'mtls';

/** The CA certificates a connection to an API trusts, besides the public roots. */
export interface TrustOptions {
  /** PEM; none: the public roots (and `NODE_EXTRA_CA_CERTS`) only. */
  ca?: string | readonly string[];
}

/**
 * The certificate a token is bound to (mTLS: RFC 8705, Entra mTLS PoP), as it is presented on a
 * connection to the API: the API refuses the token on a connection that does not present it. Its
 * private key stays inside: logging or serialising it shows the thumbprint and expiry only.
 * @publicApi
 */
export interface BoundCertificate {
  /** The certificate's SHA-256 thumbprint (base64url): the token's `cnf.x5t#S256`. */
  readonly thumbprint: string;
  /** When the certificate expires. */
  readonly notAfter: Date;
  /**
   * An undici dispatcher whose connections present the certificate, trusting `ca` and the public
   * roots: one kept-alive pool per certificate and CA set, closed at application shutdown.
   * @example
   * await fetch(url, { headers, dispatcher: tokens.boundCertificate(token)!.dispatcher({ ca }) });
   */
  dispatcher(options?: TrustOptions): Dispatcher;
  /**
   * A TLS secure context presenting the certificate and trusting `ca` and the public roots, for
   * another client: `new https.Agent({ secureContext })`, `tls.connect({ secureContext })`.
   */
  secureContext(options?: TrustOptions): SecureContext;
}

/** The request a set of headers authenticates (what a DPoP proof is signed for). */
export interface ProofRequest {
  /** HTTP method, e.g. `GET`. */
  method: string;
  /** The request's URL (its query and fragment are not part of the proof). */
  url: string | URL;
  /** The API's latest `DPoP-Nonce`, when it gave one. */
  nonce?: string;
}

/** The headers of one authenticated request. */
export interface RequestHeaders {
  /** `Bearer <token>`, `DPoP <token>` or `mtls_pop <token>`. */
  authorization: string;
  /** The DPoP proof of this request (DPoP credentials only). */
  dpop?: string;
}

import type { LoggerService } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import type { SharedCacheOptions } from './shared-cache.options';

/** A client secret registered on the app ("Certificates & secrets" → "Client secrets"). */
export interface SecretSourceOptions {
  type: 'secret';
  /** The secret's value (not its ID). Never logged, never serialised. */
  secret: string;
}

/**
 * A certificate registered on the app. The library signs a fresh client assertion (its own
 * `jti`) for every token request, and re-reads `certificatePath` when the file changes, so a
 * rotated certificate is used without a restart.
 */
export interface CertificateSourceOptions {
  type: 'certificate';
  /** A PEM file holding the certificate and its private key (as `AZURE_CLIENT_CERTIFICATE_PATH`). */
  certificatePath?: string;
  /** The certificate (PEM; a chain may follow it) when not read from `certificatePath`. */
  certificate?: string;
  /** The private key (PEM) when not read from `certificatePath`; defaults to the key found in the file. */
  privateKey?: string;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
  /**
   * Send the certificate chain (`x5c`) with each assertion: needed for subject name + issuer
   * (SNI) authentication.
   * @default false
   */
  sendX5c?: boolean;
}

/** What the callback of an `assertion` source is told. */
export interface AssertionContext {
  clientId: string;
  /** The token endpoint the assertion will be sent to: its `aud`. */
  tokenEndpoint: string;
}

/** A client assertion (a signed JWT) produced by your own code, e.g. by a signing service. */
export interface AssertionSourceOptions {
  type: 'assertion';
  /** Called for every token request; must return a JWT valid for `tokenEndpoint`. */
  getAssertion: (context: AssertionContext) => Promise<string> | string;
}

/**
 * Workload identity federation: a token issued by the platform (a Kubernetes projected service
 * account token, a CI system's OIDC token) read from a file, trusted by a federated identity
 * credential on the app. The file is re-read when it changes and before its token expires.
 */
export interface WorkloadIdentitySourceOptions {
  type: 'workload-identity';
  /**
   * Path of the token file.
   * @default process.env.AZURE_FEDERATED_TOKEN_FILE
   */
  tokenFilePath?: string;
}

/**
 * Keyless app authentication on Azure compute: a managed identity token is the app's client
 * assertion, through a federated identity credential on the app that trusts the identity.
 */
export interface ManagedIdentityAssertionSourceOptions {
  type: 'managed-identity-assertion';
  /** Client ID of a user-assigned managed identity. @default the system-assigned identity */
  managedIdentityClientId?: string;
  /** Audience of the managed identity token. @default 'api://AzureADTokenExchange' */
  audience?: string;
}

/**
 * The managed identity itself (system-assigned, or user-assigned by one of its ids) gets the
 * tokens. A credential made only of such sources needs no `tenantId` or `clientId`.
 */
export interface ManagedIdentitySourceOptions {
  type: 'managed-identity';
  /** Client ID of a user-assigned identity. */
  clientId?: string;
  /** Azure resource ID of a user-assigned identity. */
  resourceId?: string;
  /** Object (principal) ID of a user-assigned identity. */
  objectId?: string;
}

/** One way for an app to prove who it is. */
export type CredentialSource =
  | SecretSourceOptions
  | CertificateSourceOptions
  | AssertionSourceOptions
  | WorkloadIdentitySourceOptions
  | ManagedIdentityAssertionSourceOptions
  | ManagedIdentitySourceOptions;

/** An app registration (or OIDC client) and how it authenticates. */
export interface CredentialOptions {
  /**
   * Directory (tenant) ID or verified domain; the default tenant of this credential's tokens.
   * Optional only for a credential made of `managed-identity` sources.
   */
  tenantId?: string;
  /** Application (client) ID. Optional only for a credential made of `managed-identity` sources. */
  clientId?: string;
  /**
   * The authority host: Entra ID's public cloud, a sovereign cloud
   * (`https://login.microsoftonline.us`, `https://login.chinacloudapi.cn`), or any https issuer.
   * @default 'https://login.microsoftonline.com'
   */
  authorityHost?: string;
  /**
   * `entra` for Microsoft Entra ID (`<host>/<tenant>` authority, `/.default` scopes, metadata built
   * locally: no discovery request); `oidc` for any standards-compliant OAuth 2.0 / OIDC issuer,
   * whose metadata is discovered at `<host>/<tenant>/.well-known/openid-configuration`.
   * @default 'entra'
   */
  protocol?: 'entra' | 'oidc';
  /**
   * With `protocol: 'oidc'`, the issuer's URL as its metadata states it — with a path or without
   * (`https://tenant.example.com`) — instead of `authorityHost` + `tenantId`: its metadata is
   * discovered at `{issuer}/.well-known/openid-configuration`, and a client secret goes in the
   * Authorization header when the issuer allows `client_secret_basic` only. `tenantId` is then
   * optional, and a token of another tenant is refused (`tenant_unsupported`).
   */
  issuer?: string;
  /**
   * How the app authenticates, tried in order: a source that is unavailable (file missing,
   * endpoint absent) or whose credential is rejected is skipped — the reason logged once — and
   * tried again after `retry.sourceCoolDownMs`.
   */
  sources: CredentialSource[];
  /**
   * Extra CA certificates (PEM) to trust for this authority, e.g. a private or local authority.
   * Public roots stay trusted. No process-wide `NODE_EXTRA_CA_CERTS` is needed.
   */
  ca?: string | string[];
  /**
   * An HTTP proxy for the token endpoint and discovery (CONNECT tunnels):
   * `'http://proxy.corp:3128'` (user and password may be in the URL; never logged), or
   * `{ url, noProxy: ['login.microsoftonline.com', '.corp'] }` for hosts to reach directly, or
   * `false` for none. Managed identity endpoints are never proxied.
   * @default the environment's `HTTPS_PROXY` (or `HTTP_PROXY`) except `NO_PROXY` hosts and
   *   loopback; no proxy when neither is set
   */
  proxy?: string | false | ProxyOptions;
}

/** An explicit proxy of a credential. */
export interface ProxyOptions {
  /** `http://[user:password@]host:port` (or `https://…`). */
  url: string;
  /** Hosts reached without the proxy: `host`, `.domain` (its subdomains), `host:port`, or `*`. */
  noProxy?: string[];
}

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
  /** Skip the cache and ask the authority (still shared with concurrent callers). */
  forceRefresh?: boolean;
  /** Stop waiting; the request itself carries on for other callers. */
  signal?: AbortSignal;
}

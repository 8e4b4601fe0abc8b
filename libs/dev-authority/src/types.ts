/**
 * The public shapes of the local authority's in-process API. Library tests are written against these
 * names, so they change only together with those tests.
 */
import type { ExternalIssuer, ManagedIdentity, Tenant } from './directory-types';
import type { RevocationChallenge } from './revocation';

// The directory's shapes: tenants, apps, agents, identities, certificates, issuers.
export type {
  Tenant,
  AgentBlueprint,
  AgentIdentity,
  AgentUser,
  CreateAppOptions,
  App,
  ClientCertificate,
  KeyCertificate,
  SniCertificate,
  ExternalIssuer,
  ManagedIdentity,
} from './directory-types';

/** Options for {@link startDevAuthority}. */
export interface DevAuthorityOptions {
  /** TCP port on 127.0.0.1. @default 0 (a free port) */
  port?: number;
  /** TCP port of the mTLS listener ({@link DevAuthority.mtlsUrl}) on 127.0.0.1. @default 0 (a free port) */
  mtlsPort?: number;
  /** Folder for the CA, keys and certificates. @default a fresh temp dir, removed on close */
  stateDir?: string;
  /** Lifetime of issued access tokens. @default 3600 */
  accessTokenLifetimeSeconds?: number;
  /** nbf/exp tolerance when validating client assertions, like Entra's five minutes. @default 300 */
  clockToleranceSeconds?: number;
  /**
   * Folder of the Azure Arc agent's challenge key files. msal-node on Linux reads only
   * `/var/opt/azcmagent/tokens/` (the real agent's); elsewhere its Arc flow refuses the file.
   * @default `<stateDir>/azcmagent-tokens`
   */
  arcKeyDirectory?: string;
  /**
   * How many requests {@link DevAuthority.log} keeps: the most recent ones, older ones dropped as
   * new ones come. {@link DevAuthority.countTokenRequests} counts every request since the last
   * `resetLog` all the same. `0` keeps none (counters only).
   * @default 10000
   * @example
   * // The last 500 requests (a few hundred kB), however long it runs.
   * await startDevAuthority({ requestLogSize: 500 });
   */
  requestLogSize?: number;
}

/** A running local authority: the handle tests use to provision, inject faults and read the log. */
export interface DevAuthority {
  /** `https://127.0.0.1:PORT`; tenants live at `url + '/' + tenantId`. */
  readonly url: string;
  /** `127.0.0.1:PORT`, for msal's `knownAuthorities`. */
  readonly host: string;
  /** PEM of the CA that signs the server certificate. */
  readonly caPem: string;
  /** File holding {@link caPem}. */
  readonly caPath: string;
  /** Base URL of the protected demo API; `GET ${apiUrl}/data`. */
  readonly apiUrl: string;
  /**
   * `https://127.0.0.1:PORT2`: a second listener that asks every client for a certificate, as
   * Entra's mTLS host (`mtlsauth.microsoft.com`) does for mTLS proof of possession (a preview of
   * Entra's). `POST {mtlsUrl}/{tenant}/oauth2/v2.0/token` authenticates the app by the subject
   * name + issuer certificate of the TLS handshake (no secret, no assertion) and, with
   * `token_type=mtls_pop`, binds the token to it (`cnf.x5t#S256`, `token_type: mtls_pop`);
   * `GET {mtlsUrl}/api/data` is the demo API, accepting such a token as `mtls_pop` over a
   * connection presenting that certificate only. Use it as a credential's `mtls.authorityHost`.
   */
  readonly mtlsUrl: string;
  /** `api://dev-api/.default`: the demo API, always registered. */
  readonly apiScope: string;
  /** Application (client) id of the demo API: the `aud` of v2.0 tokens issued for it. */
  readonly apiAppId: string;
  /** App Service managed identity contract (IDENTITY_ENDPOINT / IDENTITY_HEADER). */
  readonly managedIdentity: { endpoint: string; header: string };
  /** The Instance Metadata Service of VMs, scale sets and AKS nodes (see {@link ImdsEmulation}). */
  readonly imds: ImdsEmulation;
  /** The Azure Arc agent of a connected server (see {@link ArcEmulation}). */
  readonly arc: ArcEmulation;
  /** Kubernetes-style service-account token minter for workload identity federation. */
  readonly externalIssuer: ExternalIssuer;
  /** Loopback-only control API base URL and the token it requires (header `x-control-token`). */
  readonly control: { url: string; token: string };
  /** Registers a tenant; the id defaults to a random GUID. */
  createTenant(options?: { tenantId?: string }): Tenant;
  /**
   * Revokes the tokens issued to an app (or a managed identity, by its client id) before now, as
   * Entra does on a critical event: the demo API answers them 401 with a claims challenge
   * (`insufficient_claims`, to clients with the `cp1` capability) or `invalid_token`; tokens issued
   * from now on are accepted. Returns the instant (epoch s) before which tokens are refused.
   */
  revokeTokens(tenantId: string, clientId: string, challenge?: RevocationChallenge): number;
  /** Registers another API; its scope is `${appIdUri}/.default`; `roles` are granted to every client. */
  createResource(options: { appIdUri: string; roles?: string[] }): void;
  /**
   * Changes the lifetime of tokens issued from now on (all tenants, or one). `refresh_in` is sent like
   * Entra for lifetimes of 2 h or more (half the lifetime); `refreshInSeconds` forces a value.
   * `identityCacheMarginSeconds` (default 300): how long before expiry the managed identity endpoints
   * (App Service, IMDS, Arc), which answer from their cache like Azure's, mint a new token of the
   * tenant's identities — tokens no longer-lived than it are never cached, so tests with short
   * lifetimes that want the cache set a shorter margin.
   */
  setAccessTokenLifetime(
    seconds: number,
    options?: { tenantId?: string; refreshInSeconds?: number; identityCacheMarginSeconds?: number },
  ): void;
  /** Fault injection: `add` returns an id for `remove`. */
  readonly faults: { add(fault: FaultSpec): string; remove(id: string): void; clear(): void };
  /**
   * The most recent requests served ({@link DevAuthorityOptions.requestLogSize}, 10,000 by
   * default), oldest first, control API requests excluded: a copy, which later requests do not
   * change.
   */
  readonly log: ReadonlyArray<RequestLogEntry>;
  /** TLS connections accepted since start (handshakes completed; `resetLog` keeps it). */
  readonly tlsConnections: number;
  /**
   * Counts token requests (token endpoint and managed identity endpoints) matching the filter, since
   * start or the last `resetLog`: those the log no longer keeps included.
   */
  countTokenRequests(filter?: TokenRequestFilter): number;
  /** Empties the log (and so the counters). */
  resetLog(): void;
  /** Registers a managed identity served by the App Service endpoint (one system-assigned at most). */
  createManagedIdentity(options: {
    tenantId: string;
    kind: 'system' | 'user';
    roles?: string[];
  }): ManagedIdentity;
  /**
   * Creates the Azure Key Vault this authority emulates at its own origin (one per authority), in
   * `tenantId`: keys, key versions, access policies; `GET` key and `sign` behind Key Vault's
   * challenge. Registers the resource `https://vault.azure.net`. Log and fault target `vault`.
   */
  createKeyVault(options: { tenantId: string }): KeyVault;
  /** Stops the server, drops every socket and timer, removes a temp state dir. */
  close(): Promise<void>;
}

/** The emulated Key Vault (see {@link DevAuthority.createKeyVault}). */
export interface KeyVault {
  /** The vault URL (`https://127.0.0.1:PORT`): key ids are `${url}/keys/<name>[/<version>]`. */
  readonly url: string;
  readonly tenantId: string;
  /** Creates an RSA 2048 key, or a new version of it (a rotation); the new version is current. */
  createKey(name: string): Promise<VaultKeyVersion>;
  /** Enables or disables a version of a key (default: its current version). */
  setKeyEnabled(name: string, enabled: boolean, version?: string): void;
  /** Grants a principal, by object id, key permissions: an access policy. */
  grant(objectId: string, permissions: ('get' | 'sign')[]): void;
  /** Signatures made so far. */
  readonly signatures: number;
}

/** A version of a vault key. */
export interface VaultKeyVersion {
  /** `${url}/keys/<name>/<version>`. */
  readonly id: string;
  /** `${url}/keys/<name>`: the key, whichever its current version. */
  readonly keyId: string;
  readonly version: string;
  /** SPKI PEM of the public key, for its certificate. */
  readonly publicKeyPem: string;
}

/** Filter for {@link DevAuthority.countTokenRequests}. */
export interface TokenRequestFilter {
  tenantId?: string;
  clientId?: string;
  scope?: string;
  outcome?: 'ok' | 'error' | 'fault';
  target?: 'token' | 'managed-identity' | 'imds' | 'arc';
}

/**
 * IMDS at `GET {host}/metadata/identity/oauth2/token`, reached through the override msal-node and
 * @azure/identity read instead of `http://169.254.169.254`: `AZURE_POD_IDENTITY_AUTHORITY_HOST`.
 * It serves the same identities as the App Service endpoint (one host).
 */
export interface ImdsEmulation {
  /** The value for `AZURE_POD_IDENTITY_AUTHORITY_HOST` (this authority's origin). */
  readonly host: string;
  /** The environment that sends msal-node's managed identity here. */
  readonly environment: Record<string, string>;
  /**
   * Host maintenance: IMDS answers `410 Gone` for the next `ms` milliseconds (Azure: up to 70 s,
   * during which clients are to keep retrying), with IMDS's JSON error body, or with the text
   * `Gone` when `body` is `'text'` (Azure documents the status only).
   */
  maintenance(ms: number, options?: { body?: 'json' | 'text' }): void;
}

/**
 * The Azure Arc agent (HIMDS): `IDENTITY_ENDPOINT` answers 401 with `WWW-Authenticate: Basic
 * realm=<key file>` and issues the machine's system-assigned token to a caller that sends the
 * file's content back.
 */
export interface ArcEmulation {
  /** The value for `IDENTITY_ENDPOINT`. */
  readonly identityEndpoint: string;
  /** The value for `IMDS_ENDPOINT` (msal-node only checks that it is set and a URL). */
  readonly imdsEndpoint: string;
  /** Where the challenge's key files are written. */
  readonly keyDirectory: string;
  /** The environment that sends msal-node's managed identity here. */
  readonly environment: Record<string, string>;
}

/** What a fault targets. */
export type FaultTarget =
  'token' | 'discovery' | 'keys' | 'managed-identity' | 'imds' | 'arc' | 'api' | 'issuer' | 'vault';

/** A fault to inject into matching requests. */
export interface FaultSpec {
  /** @default 'token' */
  target?: FaultTarget;
  /** Only requests for this tenant. */
  tenantId?: string;
  kind:
    | 'latency'
    | 'status'
    | 'throttle'
    | 'reset'
    | 'html502'
    | 'non-json'
    | 'foreign-metadata'
    | 'clock-shift';
  /** 'latency': delay, then answer normally. */
  latencyMs?: number;
  /**
   * 'status': e.g. 500 or 503, with an Entra-style error body. 'foreign-metadata' (another cloud's
   * metadata service, target `imds`): 404 (default, AWS IMDSv1's HTML page), 401 (AWS IMDSv2-only,
   * empty) or 403 (GCP, text).
   */
  status?: number;
  /**
   * 'status': the body — Entra's JSON error (default), none (`'empty'`, `text/plain`) or a line of
   * text (`'text'`), as a proxy, a sidecar starting up or an endpoint being updated answers.
   */
  body?: 'json' | 'empty' | 'text';
  /** 'throttle' (429) and optionally 'status': the Retry-After header. */
  retryAfterSeconds?: number;
  /** 'clock-shift': the authority's clock for matching requests (iat/nbf/exp issued, assertion checks). */
  clockShiftSeconds?: number;
  /** How many matching requests it applies to. @default unlimited */
  times?: number;
}

/** The kind of client credential a request authenticated (or tried to) with. */
export type CredentialKind =
  | 'secret'
  | 'certificate'
  | 'sni-certificate'
  | 'mtls-certificate'
  | 'federated'
  | 'managed-identity'
  | 'assertion';

/** One served request. */
export interface RequestLogEntry {
  at: Date;
  target: FaultTarget;
  method: string;
  path: string;
  tenantId?: string;
  clientId?: string;
  credentialKind?: CredentialKind;
  /** Requested scope; for managed identity `${resource}/.default`. */
  scope?: string;
  /** The token request's `grant_type` (`client_credentials`, `user_fic`). */
  grantType?: string;
  /**
   * The token request's `claims` parameter as sent (client capabilities and a claims challenge's
   * claims, merged by msal; at most 2,000 characters).
   */
  claims?: string;
  status: number;
  outcome: 'ok' | 'error' | 'fault';
  /** AADSTS code of an error answer. */
  errorCode?: number;
  /** `jti` of the client assertion presented. */
  jti?: string;
  /**
   * The certificate a valid certificate assertion was signed with: the SHA-256 thumbprint its
   * `x5t#S256` names (SHA-1 for an `x5t`-only one), uppercase hex as `thumbprintSha256`.
   */
  certificateThumbprint?: string;
  /** Name of the fault that answered, when one did. */
  fault?: FaultSpec['kind'];
}

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

/** The JWS algorithms of certificate assertions: RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256. */
export type SignatureAlgorithm = 'RS256' | 'PS256' | 'ES256';

/**
 * A private key held elsewhere — an HSM, a TPM, a key service, a signing server — that signs the
 * client assertions of a certificate credential. The library builds each assertion (header with
 * `x5t#S256` and, with `sendX5c`, `x5c`; claims; a fresh `jti`; its lifetime) as it does for a PEM
 * key, and asks the signer for its signature only: the key never has to leave where it lives.
 * Every signature is checked against the certificate's public key before it is sent.
 * @example
 * const signer: CertificateSigner = {
 *   getCertificate: () => certificatePem,
 *   sign: (data, algorithm, { signal }) => signingService.sign(data, algorithm, { signal }),
 * };
 */
export interface CertificateSigner {
  /**
   * The certificate of the key (PEM), followed by its chain when the assertion carries `x5c`.
   * Called at start-up and before each assertion: answer from memory.
   */
  getCertificate(): Promise<string> | string;
  /**
   * The signature of `data` — the JWS signing input (`header.payload`), not its digest — with
   * `algorithm`: RSASSA-PKCS1-v1_5 (RS256) or RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte
   * salt (PS256) bytes; for ES256, `r ‖ s` (64 bytes; a DER signature is accepted too). `signal`
   * aborts when the library stops waiting (`timeouts.requestMs`).
   */
  sign(
    data: Uint8Array,
    algorithm: SignatureAlgorithm,
    options: { signal: AbortSignal },
  ): Promise<Uint8Array> | Uint8Array;
}

/** What every source that signs with a key held elsewhere takes. */
export interface SignerSourceBase {
  /**
   * The signature algorithm. Entra ID takes PS256 (and RS256) with an RSA key; ES256 (an EC P-256
   * key) is for OIDC issuers that allow it.
   * @default 'PS256' for an RSA key, 'ES256' for an EC P-256 key
   */
  algorithm?: SignatureAlgorithm;
  /** Send the certificate chain (`x5c`), for subject name + issuer (SNI). @default false */
  sendX5c?: boolean;
}

/**
 * A certificate credential whose key is held by a signer of your own (see {@link CertificateSigner}).
 * With Entra ID (`protocol: 'entra'`) an assertion is reused for its audience (the tenant's token
 * endpoint) for up to 5 minutes of its 10, as Entra allows: one signature serves that tenant's
 * token requests meanwhile. OIDC issuers get a new one per request (they may refuse a `jti` twice).
 */
export interface SignerSourceOptions extends SignerSourceBase {
  type: 'signer';
  /** The key's certificate and signatures. Not configurable from YAML/JSON (it is an object of code). */
  signer: CertificateSigner;
}

/**
 * A key in an HSM, smart card or TPM reached through its PKCS#11 module (`pkcs11js`, an optional
 * peer, is loaded when such a source is configured). The key is found by label or id on the token
 * named by its label (or slot id); one login per token, sessions pooled, logged in again after the
 * token was removed or its sessions closed. The PIN is read from a file or a variable, never logged.
 * @example
 * { type: 'pkcs11', modulePath: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'daemon',
 *   keyLabel: 'daemon-key', pinFile: '/run/secrets/hsm-pin' }
 */
export interface Pkcs11SourceOptions extends SignerSourceBase {
  type: 'pkcs11';
  /** Path of the PKCS#11 module (`.so`, `.dylib`, `.dll`). */
  modulePath: string;
  /** Label of the token (`softhsm2-util --show-slots`). One of `tokenLabel` or `slot`. */
  tokenLabel?: string;
  /** Slot id of the token. */
  slot?: number;
  /** `CKA_LABEL` of the private key. One of `keyLabel` or `keyId`. */
  keyLabel?: string;
  /** `CKA_ID` of the private key, in hex. */
  keyId?: string;
  /** A file holding the user PIN (a trailing newline is ignored). One of `pinFile` or `pinEnv`. */
  pinFile?: string;
  /** The name of an environment variable holding the user PIN. */
  pinEnv?: string;
  /**
   * A PEM file holding the key's certificate (and chain), re-read when it changes.
   * @default the certificate object on the token with the key's `CKA_ID` (else its label)
   */
  certificatePath?: string;
  /** The certificate (PEM) when not read from a file or the token. */
  certificate?: string;
}

/**
 * An Azure Key Vault (or Managed HSM) key that signs (`keys/sign`; the key is never exported),
 * through `@azure/keyvault-keys` (an optional peer, loaded when such a source is configured). The
 * vault is called with tokens of another credential of this module — a managed identity, typically.
 * A `keyId` without a version signs with the key's current version: a rotated key is used at the
 * next signature, and its certificate file (re-read when it changes) must follow it.
 * @example
 * { type: 'key-vault', keyId: 'https://contoso.vault.azure.net/keys/daemon',
 *   certificatePath: '/etc/daemon/cert.pem', credential: 'vault' }
 */
export interface KeyVaultSourceOptions extends SignerSourceBase {
  type: 'key-vault';
  /** `https://<vault>.vault.azure.net/keys/<name>[/<version>]` (or a Managed HSM's key id). */
  keyId: string;
  /** The name of the credential (of this module) whose tokens the vault accepts. */
  credential: string;
  /** A PEM file holding the key's certificate (and chain), re-read when it changes. */
  certificatePath?: string;
  /** The certificate (PEM) when not read from a file. */
  certificate?: string;
  /** Extra CA certificates (PEM) to trust for the vault, besides the public roots. */
  ca?: string | string[];
  /**
   * Accept a challenge whose resource is not the vault's domain (a vault at a private address).
   * @default false
   */
  disableChallengeResourceVerification?: boolean;
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
  | SignerSourceOptions
  | Pkcs11SourceOptions
  | KeyVaultSourceOptions
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
   * `false` for none. Managed identity endpoints are never proxied. With `mtls`, the API calls that
   * present the certificate (fetch, downstream APIs) go the same way.
   * @default the environment's `HTTPS_PROXY` (or `HTTP_PROXY`) except `NO_PROXY` hosts and
   *   loopback; no proxy when neither is set
   */
  proxy?: string | false | ProxyOptions;
  /**
   * Makes this credential an agent identity blueprint (Microsoft Entra Agent ID): besides its own
   * tokens, it gets tokens for the agent identities created from it, chosen per call with
   * `getAccessToken(scope, { agent: '<agent app id>' })`. Each agent token takes two requests,
   * both cached: the blueprint's token exchange token for the agent (`fmi_path`), then the agent's
   * own client credentials request with it as client assertion. Entra ID only (`protocol:
   * 'entra'`); any source but `managed-identity` (a blueprint is an app registration).
   * See docs/agents.md.
   * @default undefined (not a blueprint: a call naming an agent fails `agent_unsupported`)
   * @example
   * agentBlueprint: { agents: { billing: '6c1e…', support: '0f2b…' } }
   */
  agentBlueprint?: boolean | AgentBlueprintOptions;
  /**
   * What the credential's token requests carry besides what the protocol needs: form parameters
   * an issuer wants (Auth0's `audience`, RFC 8707's `resource`) and HTTP headers, fixed or per
   * request. Not for managed identity credentials (no token endpoint of theirs is called).
   * @example
   * tokenRequest: { parameters: { audience: 'https://api.example.com' } }
   */
  tokenRequest?: TokenRequestOptions;
  /**
   * Sender-constrained tokens with DPoP (RFC 9449), `protocol: 'oidc'` only: every token request
   * carries a proof signed with this credential's key, the authority binds the token to the key
   * (`cnf.jkt`), and the calling integrations sign a fresh proof for every API request. `true`: an
   * ES256 key generated in memory at start (it never leaves the process; a restart means a new
   * key and new tokens). See docs/proof-of-possession.md.
   * @default undefined (bearer tokens)
   * @example dpop: true
   * @example dpop: { algorithm: 'PS256', privateKey: process.env.DPOP_KEY_PEM }
   */
  dpop?: boolean | DpopOptions;
  /**
   * Tokens bound to the credential's certificate (RFC 8705): the certificate authenticates the app
   * in the TLS handshake with the token endpoint — no secret, no client assertion is sent — and the
   * token names its thumbprint (`cnf.x5t#S256`); the calling integrations present the same
   * certificate on their connections to the API. Every source must be a `certificate`.
   * - `protocol: 'oidc'`: mutual-TLS client authentication (`tls_client_auth` or
   *   `self_signed_tls_client_auth`, as the client is registered) at the issuer's mTLS token
   *   endpoint (`mtls_endpoint_aliases` of its discovery document, else its `token_endpoint`).
   * - `protocol: 'entra'`: Entra ID's mTLS proof of possession (a **preview** of Entra's, for subject
   *   name + issuer certificates: `sendX5c: true`): `token_type=mtls_pop` over Entra's mTLS endpoint
   *   (`https://mtlsauth.microsoft.com`, or `{region}.mtlsauth.microsoft.com`); the API gets
   *   `Authorization: mtls_pop <token>`.
   *
   * See docs/proof-of-possession.md.
   * @default undefined (bearer tokens)
   * @example mtls: true
   * @example mtls: { region: 'westeurope' } // Entra: the regional mTLS endpoint
   */
  mtls?: boolean | MtlsOptions;
}

/** Where a credential's certificate-bound tokens are requested (Entra ID only: an OIDC issuer's discovery says). */
export interface MtlsOptions {
  /**
   * Entra ID: the Azure region of the token endpoint (`westeurope`, `eastus2`: letters and digits),
   * `https://{region}.mtlsauth.microsoft.com`, as MSAL .NET's `WithAzureRegion`.
   * @default the global endpoint, https://mtlsauth.microsoft.com
   */
  region?: string;
  /**
   * Entra ID: the host of the mTLS token endpoint (`{authorityHost}/{tenant}/oauth2/v2.0/token`),
   * for an authority whose host does not start with `login.` (a private cloud, a local authority).
   * @default derived from `authorityHost`: `login.X` → `mtlsauth.X`, the public cloud's →
   *   `mtlsauth.microsoft.com`
   */
  authorityHost?: string;
}

/** The DPoP key of a credential. */
export interface DpopOptions {
  /**
   * The proofs' signature algorithm: `ES256` (P-256), `RS256` or `PS256` (RSA, 2048 bits or more).
   * @default 'ES256'
   */
  algorithm?: 'ES256' | 'RS256' | 'PS256';
  /**
   * The private key (PEM, PKCS#8 or SEC1/PKCS#1), when replicas must share one key — and so, with
   * `cache.shared`, their tokens. Never logged; only its thumbprint (`jkt`) is shown.
   * @default a key generated in memory at start
   */
  privateKey?: string;
}

/** What a credential's token requests carry besides the protocol's own parameters. */
export interface TokenRequestOptions {
  /**
   * Form parameters added to every token request. The protocol's own (`client_id`,
   * `client_secret`, `client_assertion*`, `grant_type`, `scope`, `claims`, `fmi_path`, …) cannot
   * be overridden: options naming one fail at start-up.
   * @example { resource: 'api://orders' }
   */
  parameters?: Record<string, string>;
  /**
   * HTTP headers added to every token request (not `authorization`, `content-type`,
   * `content-length` or `host`). Values are never logged.
   */
  headers?: Record<string, string>;
  /**
   * Called before each token request with what it asks for — never a secret — and may return
   * more form parameters (over `parameters`). Its answer must depend on nothing else: tokens are
   * cached by credential, tenant and scopes. Bounded by `timeouts.requestMs`; a throw or a
   * protocol parameter fails the request (`request_parameters_invalid`).
   * @example
   * customize: ({ scopes }) => ({ audience: scopes[0].replace(/\/\.default$/, '') })
   */
  customize?: (
    request: TokenRequestContext,
  ) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
}

/** What {@link TokenRequestOptions.customize} is told of a token request. */
export interface TokenRequestContext {
  /** The configured credential's name. */
  readonly credential: string;
  /** The client id the request authenticates as (an agent's, for an agent identity's request). */
  readonly clientId: string;
  readonly tenantId: string;
  readonly scopes: readonly string[];
}

/** The agent identities of a blueprint credential (Microsoft Entra Agent ID). */
export interface AgentBlueprintOptions {
  /**
   * Agent identities by name, each its application (client) ID: a call may name an agent by
   * either (`{ agent: 'billing' }` or `{ agent: '<its app id>' }`).
   * @default {}
   */
  agents?: Record<string, string>;
  /**
   * Refuse (`agent_unknown`) an agent app id not listed in `agents`. Leave it off for fleets whose
   * agents are created at run time and named by app id.
   * @default false
   */
  onlyNamedAgents?: boolean;
  /**
   * The scope of the blueprint's token exchange token (the first leg). Sovereign clouds have their
   * own (`api://AzureADTokenExchangeChina/.default`, …).
   * @default 'api://AzureADTokenExchange/.default'
   */
  tokenExchangeScope?: string;
}

/** An explicit proxy of a credential. */
export interface ProxyOptions {
  /** `http://[user:password@]host:port` (or `https://…`). */
  url: string;
  /** Hosts reached without the proxy: `host`, `.domain` (its subdomains), `host:port`, or `*`. */
  noProxy?: string[];
}

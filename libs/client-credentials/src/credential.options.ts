import type { CredentialSource } from './credential-source.options';

// The ways an app proves who it is (a credential's `sources`), one type per `type`: the public API
// names them from here.
export type {
  SecretSourceOptions,
  CertificateSourceOptions,
  AssertionContext,
  AssertionSourceOptions,
  SignatureAlgorithm,
  CertificateSigner,
  SignerSourceBase,
  SignerSourceOptions,
  Pkcs11SourceOptions,
  KeyVaultSourceOptions,
  WorkloadIdentitySourceOptions,
  ManagedIdentityAssertionSourceOptions,
  ManagedIdentitySourceOptions,
  CredentialSource,
} from './credential-source.options';

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

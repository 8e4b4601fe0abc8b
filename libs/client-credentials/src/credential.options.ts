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

/**
 * The one table of everything this library can raise: each stable error code and each Entra ID
 * (AADSTS) number that has a hint of its own, with its cause and its fix. Error messages, the
 * `hint` on every error and docs/troubleshooting.md are all made from it (a spec keeps the doc in step).
 */

/** A row of the catalogue: why it happens and what to do. */
export interface ErrorHint {
  /** What went wrong, in one sentence. */
  readonly cause: string;
  /** How to fix it, in one or two sentences. */
  readonly fix: string;
}

/**
 * The class an error of a code is thrown as (by name: the classes import this file). Callers that
 * branch on `instanceof` read the class; docs/troubleshooting.md's class table is made from it.
 */
export type ErrorClassName =
  | 'ConfigurationError'
  | 'InvalidRequestError'
  | 'TokenRequestRejectedError'
  | 'TokenEndpointError'
  | 'ClientCredentialsError';

/** A row of the library's own codes: its class, whether it may pass, its cause and fix. */
export interface CodeRow extends ErrorHint {
  /** The class every error of this code is thrown as. */
  readonly class: ErrorClassName;
  /**
   * `error.transient` of this code's errors: `yes` always, `no` never, `varies` when it depends
   * on the cause (a signer's timeout may pass, its refusal not) — read `error.transient` then.
   */
  readonly transient: 'yes' | 'no' | 'varies';
}

/** Stable error codes of the library (`ClientCredentialsError.code`). */
export const ERROR_CATALOG = {
  options_invalid: {
    class: 'ConfigurationError',
    transient: 'no',
    cause:
      "Options are invalid: the module's (ClientCredentialsModule, DownstreamApiModule), or a calling integration's (e.g. createAuthenticatedFetch's maxRedirects); the message names whose, and `error.problems` each field.",
    fix: "Correct the named fields in the options the message names: the forRoot()/forRootAsync() options of ClientCredentialsModule or DownstreamApiModule, or the integration's.",
  },
  credential_unknown: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause: 'getAccessToken() named a credential that is not configured, or no default applies.',
    fix: 'Pass one of the configured credential names, or set `defaultCredential`.',
  },
  scope_invalid: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      "The requested scopes cannot be used with the client credentials flow (or with an agent user's token).",
    fix: 'Request exactly one `<resource>/.default` scope for Entra ID, e.g. `https://graph.microsoft.com/.default`; for an agent user, named scopes of one resource or its `/.default` alone.',
  },
  claims_invalid: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause: 'A claims request is not a JSON object (or is too long).',
    fix: 'Pass the decoded `claims` of the resource\'s WWW-Authenticate challenge, a JSON object such as {"access_token":{…}}.',
  },
  tenant_invalid: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause: 'The tenant is empty, malformed, or a meta-tenant (common, organizations, consumers).',
    fix: 'Use the directory (tenant) ID GUID or a verified domain such as contoso.onmicrosoft.com.',
  },
  tenant_unsupported: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      'A token of another tenant was asked of a managed identity: a managed identity only has tokens of its own tenant.',
    fix: "Leave `tenantId` out of the call; for tokens of other tenants, use a multi-tenant app registration with the managed identity as its federated credential (source 'managed-identity-assertion').",
  },
  tenant_not_allowed: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      "An Azure SDK client asked the TokenCredential for a token of a tenant other than the credential's own (the tenant of a resource's challenge, Key Vault's say), and that tenant is not listed in `additionallyAllowedTenants`.",
    fix: "If the app is meant to get tokens of that tenant, add its id to `additionallyAllowedTenants` of createTokenCredential ('*' allows any tenant); otherwise check which resource the SDK client calls.",
  },
  agent_unsupported: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      "A call named an agent identity (`agent`) of a credential that is not an agent identity blueprint, or asked for an agent user's token without an agent.",
    fix: 'Name the blueprint credential (`agentBlueprint` set in its options) with `agent`; an `agentUser` needs its `agent` too.',
  },
  agent_unknown: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      "The `agent` of a call is neither an agent identity's application (client) ID (a GUID) nor a name listed in the blueprint's `agentBlueprint.agents`, or the blueprint takes named agents only.",
    fix: "Pass the agent identity's app id, or one of the names of `agentBlueprint.agents`; with `onlyNamedAgents: true`, add it to that list.",
  },
  agent_user_invalid: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      'The `agentUser` of a call is neither a user principal name (user@domain) nor an object ID (a GUID).',
    fix: "Pass the agent user's UPN or its object ID, as Microsoft Graph lists it (`/users/{id}`).",
  },
  request_parameters_invalid: {
    class: 'ClientCredentialsError',
    transient: 'no',
    cause:
      "A credential's tokenRequest.customize hook failed, took longer than timeouts.requestMs, or returned a parameter the protocol owns (client_id, scope, client_assertion…) or a value that is not a string.",
    fix: "Make the hook return { name: string } pairs of your own parameters only (the library sets the protocol's), quickly; the message names the parameter, never its value.",
  },
  credential_rejected: {
    class: 'TokenRequestRejectedError',
    transient: 'no',
    cause:
      'The identity provider rejected the client credential (secret, certificate or assertion).',
    fix: 'Check the AADSTS hint; renew or re-register the credential on the app registration.',
  },
  request_rejected: {
    class: 'TokenRequestRejectedError',
    transient: 'no',
    cause: 'The identity provider rejected the token request (scope, resource, app or tenant).',
    fix: 'Fix what the reason in the message names — the scope, resource, tenant, app registration or managed identity; an AADSTS code there has its own hint.',
  },
  endpoint_unavailable: {
    class: 'TokenEndpointError',
    transient: 'yes',
    cause: 'The token endpoint answered with a server error (5xx).',
    fix: 'Transient: the library retries with backoff and keeps serving cached tokens; persistent failures point at the authority host.',
  },
  throttled: {
    class: 'TokenEndpointError',
    transient: 'yes',
    cause: 'The token endpoint throttled the client (HTTP 429 or AADSTS50196).',
    fix: 'The library waits for Retry-After; reduce token requests (share one cache across replicas, avoid forceRefresh loops).',
  },
  timeout: {
    class: 'TokenEndpointError',
    transient: 'yes',
    cause: 'The token endpoint did not answer within the configured time.',
    fix: 'Check connectivity to the authority host; raise `timeouts.requestMs` / `timeouts.acquireMs` if the network is slow.',
  },
  network_error: {
    class: 'TokenEndpointError',
    transient: 'yes',
    cause: 'The token endpoint could not be reached (DNS, TCP, TLS or connection reset).',
    fix: 'Check the authority host, proxies and firewalls; for a private authority set `ca` to its CA certificate.',
  },
  invalid_response: {
    class: 'TokenEndpointError',
    transient: 'yes',
    cause: 'The token endpoint answered with something that is not a valid token response.',
    fix: 'Check that `authorityHost` points at an OAuth 2.0 token service and not at a proxy or error page.',
  },
  authority_redirected: {
    class: 'TokenRequestRejectedError',
    transient: 'no',
    cause:
      'The authority answered a token or discovery request with a redirect (HTTP 3xx). The library never follows one: the secret or client assertion would go to another address.',
    fix: 'If the address the message names is the right token service, set `authorityHost` to it; otherwise check the gateway or proxy in front of the authority.',
  },
  source_unavailable: {
    class: 'ClientCredentialsError',
    transient: 'no',
    cause:
      'A credential source cannot be used here (token file missing, no managed identity endpoint).',
    fix: 'The next source of the chain is used; set up the missing file or identity, or remove the source.',
  },
  refused_token_reissued: {
    class: 'TokenEndpointError',
    transient: 'yes',
    cause:
      'A background refresh got back the very token an API refused while the refresh ran (a managed identity endpoint that hands out its cached token and cannot be told to mint: IMDS, Azure Arc); it is not served again.',
    fix: "Nothing to do: the next call asks again, naming the refused token. If the endpoint keeps handing it out, the API keeps refusing it until the endpoint mints (near the token's end); on App Service the request names it and the endpoint mints at once.",
  },
  authority_error: {
    class: 'ClientCredentialsError',
    transient: 'no',
    cause:
      'The authority could not be resolved (metadata discovery failed or the authority URL is invalid).',
    fix: 'Check `authorityHost`, `tenantId` and, for a private authority, `ca`.',
  },
  assertion_failed: {
    class: 'ClientCredentialsError',
    transient: 'no',
    cause:
      'The client assertion could not be produced (callback failed or the certificate could not be used).',
    fix: 'Check the `getAssertion` callback or the certificate file and key named in the message.',
  },
  signer_failed: {
    class: 'ClientCredentialsError',
    transient: 'varies',
    cause:
      "The key that signs client assertions (an HSM through PKCS#11, a Key Vault key, a signer of the app) refused, failed or did not answer in time, returned bytes that are not a signature (of the wrong length for the certificate's key: nothing, a part, or base64 or hex text of one), or signed with a key that is not the certificate's.",
    fix: "Check what the message names — the PIN (file or variable), the token and key labels, the module path; for Key Vault the key (enabled, not expired), the identity's keys/sign permission and the vault URL; a new key version needs its certificate deployed too; a signer of the app returns the signature's raw bytes (an RSA key's size in bytes, ES256 64 bytes or DER). A chain moves on to its next source meanwhile.",
  },
  warm_up_failed: {
    class: 'ClientCredentialsError',
    transient: 'varies',
    cause:
      "A token declared in `warmUp.tokens` could not be obtained while `app.init()` waited for it (`wait: 'init'`): a failure no retry helps, or one that lasted past `warmUp.timeoutMs`; the message names each token and its cause.",
    fix: "Fix the cause named for each token (its own code has a hint); for a managed identity endpoint that takes longer to start, raise `warmUp.timeoutMs`, or use `wait: 'background'` and a readiness probe.",
  },
  binding_refused: {
    class: 'TokenRequestRejectedError',
    transient: 'no',
    cause:
      "The authority answered a token request for a bound token with a token that is not bound to the credential's key or certificate (DPoP: token_type Bearer; mTLS: no `cnf.x5t#S256` of the certificate presented, or Bearer where `mtls_pop` was asked for): sent as such, it would be a bearer token again.",
    fix: 'Enable the binding for this client at the authorization server (DPoP: `dpop_bound_access_tokens`; RFC 8705: `tls_client_certificate_bound_access_tokens`), or remove `dpop` / `mtls` from the credential if the API accepts bearer tokens.',
  },
  proof_required: {
    class: 'InvalidRequestError',
    transient: 'no',
    cause:
      "A token bound to the credential's key (DPoP) or certificate (mTLS) was asked for where its proof or certificate cannot go with it: getAuthorizationHeader(), an Azure SDK TokenCredential, which sends Bearer tokens only, or an axios request through an adapter the interceptor cannot make present the certificate (a custom adapter function, xhr, a mock); or the certificate a token is bound to is no longer held.",
    fix: 'Call the API through createAuthenticatedFetch, the axios interceptor or a DownstreamApi, or send each request with TokenService.getRequestHeaders() (and, for mTLS, over TokenService.boundCertificate(token).dispatcher()); with axios, keep its http or fetch adapter (the default in Node); use a credential without `dpop` / `mtls` for Azure SDK clients.',
  },
  aborted: {
    class: 'ClientCredentialsError',
    transient: 'no',
    cause: 'The caller aborted the request through its AbortSignal.',
    fix: 'Nothing to fix; the token request carries on for other callers.',
  },
  shutdown: {
    class: 'ClientCredentialsError',
    transient: 'no',
    cause: 'The application is shutting down; no new tokens are acquired.',
    fix: 'Stop calling getAccessToken() after app.close().',
  },
} as const satisfies Record<string, CodeRow>;

/** A stable error code of this library. */
export type ClientCredentialsErrorCode = keyof typeof ERROR_CATALOG;

/**
 * Entra ID error numbers (AADSTSnnnn) with a hint of their own; checked against Microsoft's
 * "Microsoft Entra authentication and authorization error codes" reference.
 */
export const AADSTS_CATALOG: Readonly<Record<number, ErrorHint>> = {
  7000215: {
    cause:
      'Invalid client secret provided: the value is wrong (often the secret ID instead of its value).',
    fix: 'Copy the secret *value* (not its ID) from the app registration, or create a new secret.',
  },
  7000222: {
    cause: 'The client secret has expired.',
    fix: 'Create a new client secret on the app registration and deploy it; consider certificates or workload identity.',
  },
  700016: {
    cause: 'The application (client ID) was not found in the tenant.',
    fix: 'Check `clientId` and `tenantId`; for a multi-tenant app, an admin of that tenant must consent to it first.',
  },
  90002: {
    cause: 'The tenant was not found.',
    fix: 'Check `tenantId` (directory ID GUID or verified domain) and that `authorityHost` is the right cloud.',
  },
  700027: {
    cause: 'The client assertion signature does not match any certificate registered on the app.',
    fix: 'Upload the certificate (public part) to the app registration, or use the certificate that is registered.',
  },
  700024: {
    cause:
      'The client assertion is not within its valid time range (clock skew, or an expired federated token).',
    fix: 'Sync the machine clock (NTP); for workload identity make sure the token file is refreshed.',
  },
  7000274: {
    cause:
      'The client assertion certificate is not valid (expired, not yet valid, or its key was rejected).',
    fix: 'Renew the certificate and register the new one on the app registration.',
  },
  7000277: {
    cause:
      'The certificate chain sent in x5c (subject name + issuer) is not trusted or does not match.',
    fix: 'Send the full chain (`sendX5c: true`) and check the trusted subject name and issuer on the app manifest.',
  },
  1000502: {
    cause: 'The certificate has expired.',
    fix: 'Renew the certificate, register it on the app registration, and deploy the new file.',
  },
  7000214: {
    cause: 'The certificate has been revoked.',
    fix: 'Issue a new certificate and register it on the app registration.',
  },
  70011: {
    cause: 'The scope is invalid for the client credentials flow.',
    fix: 'Request `<resource>/.default` (one resource), e.g. `api://my-api/.default`.',
  },
  500011: {
    cause: 'The resource (API) named by the scope was not found in the tenant.',
    fix: "Check the scope's resource URI / app ID, and that the API's service principal exists in the tenant.",
  },
  70021: {
    cause:
      'No federated identity credential on the app matches the presented assertion (issuer, subject, audience).',
    fix: 'Add a federated credential whose issuer, subject and audience equal the values named in the message.',
  },
  700211: {
    cause: 'No federated identity credential on the app has the issuer of the presented assertion.',
    fix: "Add a federated credential with the token's issuer (for AKS, the cluster's OIDC issuer URL).",
  },
  700212: {
    cause:
      'No federated identity credential on the app has the audience of the presented assertion.',
    fix: "Use audience 'api://AzureADTokenExchange' on both sides (federated credential and token).",
  },
  700213: {
    cause:
      'No federated identity credential on the app has the subject of the presented assertion.',
    fix: "Add a federated credential with the token's subject (for Kubernetes, system:serviceaccount:<namespace>:<name>).",
  },
  50196: {
    cause: 'Client request loop: the same token was requested too often.',
    fix: 'Cache tokens (share one cache across replicas) and avoid forceRefresh in loops; the library backs off.',
  },
  700022: {
    cause: 'The scope names more than one resource (InvalidMultipleResourcesScope).',
    fix: 'Request one resource per token: a single `<resource>/.default` scope.',
  },
  700023: {
    cause:
      'The client assertion audience (`aud`) does not match the token endpoint of the tenant (or, as invalid_scope, the scope names no resource).',
    fix: 'Set `aud` of custom assertions to the token endpoint URL of the tenant asked; request `<resource>/.default`.',
  },
  700021: {
    cause:
      "The client assertion was made for another app: its `iss`/`sub` are not the request's client id.",
    fix: 'Make `iss` and `sub` of the assertion the application (client) ID of the credential.',
  },
  50048: {
    cause: 'The `sub` of the client assertion is not its `iss`.',
    fix: 'Make `iss` and `sub` of the assertion both the application (client) ID.',
  },
  50012: {
    cause:
      'The certificate or assertion was not accepted (subject name not authorized, chain or signature not valid).',
    fix: 'Check the certificate registered on the app (or its trusted subject name and issuer) and the key that signs the assertion.',
  },
  700030: {
    cause:
      'The subject name of the certificate is not authorized on the app (subject name + issuer).',
    fix: 'Register the certificate subject as a trusted subject name on the app manifest, or use the registered certificate.',
  },
  7000112: {
    cause: 'The application is disabled.',
    fix: 'Re-enable the app registration or its service principal in the tenant.',
  },
};

/**
 * Entra ID error numbers of the agent identity flows (Microsoft Entra Agent ID: the blueprint's
 * token exchange token, the agent's token, the agent user's token), where they mean something
 * else than in an app's own request, or occur only there. An error of an agent's request takes
 * its hint from here first.
 */
export const AGENT_AADSTS_CATALOG: Readonly<Record<number, ErrorHint>> = {
  82008: {
    cause:
      'The blueprint asked for a token exchange token (api://AzureADTokenExchange) without `fmi_path`: every agentic application must name the agent identity it asks for.',
    fix: 'Ask through the blueprint credential with `{ agent }` (the library sends `fmi_path`); do not request the token exchange scope of a blueprint yourself.',
  },
  82001: {
    cause:
      'The token exchange of an agent identity was asked with a grant Entra does not take for it (e.g. the RFC 8693 token-exchange grant).',
    fix: "Agent identities use client credentials with the blueprint's token as client assertion (and `user_fic` for agent users): use the library's `agent` / `agentUser` options.",
  },
  700211: {
    cause:
      "Entra found no federated identity record for the assertion: for an agent identity, the blueprint's token exchange token was obtained in another tenant than the agent's own (a multi-tenant blueprint), or the agent is not a child of this blueprint.",
    fix: "Call with the agent identity's home tenant (`tenantId`): every leg runs in that tenant. Check that the agent identity was created from this blueprint (its `agentIdentityBlueprintId`).",
  },
  700016: {
    cause:
      'The agent identity (or the blueprint) was not found in the tenant: a wrong agent app id, an agent of another tenant, or a deleted agent.',
    fix: "Check the agent identity's app id and its tenant in Entra (Agent ID → agent identities); pass the tenant it lives in as `tenantId`.",
  },
  7000215: {
    cause: "The blueprint's client secret is wrong (often the secret ID instead of its value).",
    fix: "Copy the blueprint's secret *value*; secrets are for local development only — use a certificate (SN+I) or a managed identity as federated credential in production.",
  },
  7000216: {
    cause:
      "The agent's request carried no client credential: its blueprint's token exchange token (client_assertion) was not sent.",
    fix: 'Get agent tokens through the blueprint credential with `{ agent }`; an agent identity cannot hold credentials of its own.',
  },
  50000: {
    cause:
      "Entra failed to issue the agent user's token: a user principal name sent as `user_id` (object id), or an agent user not linked to this agent identity.",
    fix: "Pass the agent user's object ID or its UPN as `agentUser` (the library sends each in its own parameter); check that the agent user's `identityParentId` is this agent identity.",
  },
  82014: {
    cause: 'An interactive or user consent flow was attempted for an agent identity.',
    fix: 'Agent identities get permissions by admin grants (app roles, or an oauth2PermissionGrant for an agent user), never by an interactive prompt.',
  },
};

/**
 * The hint text shown on an error: the AADSTS hint when there is one (of an agent's flow when the
 * error is an agent's), else the code's.
 */
export function hintFor(code: ClientCredentialsErrorCode, aadsts?: number, agent = false): string {
  const row =
    (aadsts !== undefined && ((agent && AGENT_AADSTS_CATALOG[aadsts]) || AADSTS_CATALOG[aadsts])) ||
    ERROR_CATALOG[code];
  return row.fix;
}

/**
 * The public shapes of the local authority's directory: tenants, app registrations, agent
 * identities, managed identities, certificates and external issuers (types.ts re-exports them).
 */
/** A directory (tenant). */
export interface Tenant {
  readonly tenantId: string;
  /**
   * Adds a verified domain of the tenant (`contoso.onmicrosoft.com`): its token and discovery
   * endpoints answer by that name as by its id, and its tokens name the id (`tid`), as Entra's do.
   */
  addDomain(domain: string): void;
  /**
   * Registers an app and its service principal; `roles` are granted on the demo API (default
   * `['Data.Read']`). With the `clientId` of an app registered in another tenant, adds a service
   * principal of that multi-tenant app here instead (shared credentials); `secret` then adds that
   * secret value to the app registration if it is not there yet.
   */
  createApp(options?: CreateAppOptions): App;
  /**
   * Registers an agent identity blueprint (Microsoft Entra Agent ID): an app whose credentials
   * (secret, certificate, federated) get token exchange tokens for its agent identities. With the
   * `clientId` of a blueprint of another tenant, adds its service principal here (multi-tenant).
   */
  createAgentBlueprint(options?: CreateAppOptions): AgentBlueprint;
}

/** An agent identity blueprint (Entra Agent ID) and its service principal in one tenant. */
export interface AgentBlueprint extends App {
  /**
   * Creates an agent identity of this blueprint in this tenant (or, for a multi-tenant blueprint,
   * in `tenantId`, where the blueprint has a service principal): an app with no credential of its
   * own that trusts this blueprint's token exchange tokens for it. `roles` are granted on the demo
   * API (default `['Data.Read']`).
   */
  createAgentIdentity(options?: {
    displayName?: string;
    roles?: string[];
    tenantId?: string;
  }): AgentIdentity;
}

/** An agent identity (Entra Agent ID): it gets tokens with its blueprint's token exchange token. */
export interface AgentIdentity {
  readonly tenantId: string;
  /** Its application id: the `fmi_path` of its blueprint's token exchange token, its `azp`. */
  readonly clientId: string;
  /** Object id of its service principal: the `oid` of its tokens. */
  readonly objectId: string;
  /** The blueprint's app id: its tokens' `xms_par_app_azp`. */
  readonly blueprintId: string;
  /**
   * Creates its agent user, granted `scopes` (default `['Data.Read']`) of the demo API — what
   * an `oauth2PermissionGrant` of the agent for that user does in Entra.
   */
  createAgentUser(options?: { userPrincipalName?: string; scopes?: string[] }): AgentUser;
}

/** The agent user of an agent identity (`identityParentId`). */
export interface AgentUser {
  readonly tenantId: string;
  readonly objectId: string;
  readonly userPrincipalName: string;
  /** The agent identity's app id. */
  readonly agentId: string;
}

/** Options of {@link Tenant.createApp}. */
export interface CreateAppOptions {
  displayName?: string;
  roles?: string[];
  clientId?: string;
  secret?: string;
}

/** An app registration plus its service principal in one tenant. */
export interface App {
  readonly tenantId: string;
  readonly clientId: string;
  /** Object id of the service principal: the `oid`/`sub` of its app tokens. */
  readonly objectId: string;
  /** Adds a client secret and returns its value. */
  addSecret(options?: { expiresAt?: Date }): string;
  /**
   * Adds an uploaded certificate (with its private key for the test to sign with); `validFrom`:
   * its `notBefore` (default: a day ago), for a certificate not valid yet.
   */
  addCertificate(options?: {
    expiresAt?: Date;
    validFrom?: Date;
    subject?: string;
  }): Promise<ClientCertificate>;
  /**
   * Registers a certificate the authority's CA issues for a public key it is given (PEM, SPKI) —
   * the key of an HSM or a key vault, which never leaves it — as a CA signs a CSR.
   */
  addCertificateForKey(
    publicKeyPem: string,
    options?: { expiresAt?: Date; subject?: string },
  ): Promise<KeyCertificate>;
  /** Adds a "trusted subject name + issuer" (SNI) certificate chaining to the authority's SNI root. */
  addSniCertificate(options?: { subject?: string }): Promise<SniCertificate>;
  /** Adds a federated identity credential; audience defaults to `api://AzureADTokenExchange`. */
  addFederatedCredential(options: { issuer: string; subject: string; audience?: string }): void;
  /** Drops every secret, certificate, SNI subject and federated credential. */
  removeCredentials(): void;
}

/** An uploaded certificate credential. Thumbprints are uppercase hex. */
export interface ClientCertificate {
  certificatePem: string;
  privateKeyPem: string;
  thumbprintSha1: string;
  thumbprintSha256: string;
}

/** A certificate issued for a key held elsewhere. Thumbprints are uppercase hex. */
export interface KeyCertificate {
  certificatePem: string;
  thumbprintSha1: string;
  thumbprintSha256: string;
}

/** A subject-name/issuer certificate: `chainPem` is the leaf then the intermediate, PEM concatenated. */
export interface SniCertificate {
  certificatePem: string;
  chainPem: string;
  privateKeyPem: string;
  subject: string;
  thumbprintSha256: string;
}

/** An OIDC issuer of Kubernetes-style service-account tokens. */
export interface ExternalIssuer {
  /** Issuer URL; serves `/.well-known/openid-configuration` and its JWKS. */
  readonly url: string;
  /** Mints a token; audience defaults to `api://AzureADTokenExchange`, lifetime to 3600 s. */
  mintToken(options: {
    subject: string;
    audience?: string;
    lifetimeSeconds?: number;
  }): Promise<string>;
}

/** A managed identity's service principal. */
export interface ManagedIdentity {
  readonly clientId: string;
  readonly objectId: string;
  readonly resourceId: string;
  readonly kind: 'system' | 'user';
  readonly tenantId: string;
}

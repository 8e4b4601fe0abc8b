import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** The audience every federated credential defaults to. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

/** A stored client secret. */
export interface SecretRecord {
  value: string;
  expiresAt: Date;
}

/** A stored uploaded certificate (public part only). */
export interface CertificateRecord {
  certificatePem: string;
  thumbprintSha1: string;
  thumbprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

/** A stored federated identity credential. */
export interface FederatedRecord {
  issuer: string;
  subject: string;
  audience: string;
}

/** An app registration with its service principal. */
export interface AppRecord {
  tenantId: string;
  clientId: string;
  objectId: string;
  displayName: string;
  /** App roles granted on the demo API. */
  roles: string[];
  secrets: SecretRecord[];
  certificates: CertificateRecord[];
  sniSubjects: string[];
  federated: FederatedRecord[];
  /** An agent identity blueprint (Entra Agent ID): may ask token exchange tokens for its agents. */
  blueprint?: boolean;
  /** An agent identity: the app id of the blueprint it was created from. */
  parentBlueprint?: string;
}

/** An agent user: the user account of one agent identity (Entra Agent ID). */
export interface AgentUserRecord {
  tenantId: string;
  objectId: string;
  userPrincipalName: string;
  /** The agent identity it belongs to (`identityParentId`), by app id. */
  agentId: string;
  /** Delegated scopes granted to the agent for this user (an oauth2PermissionGrant), on the demo API unless named by resource. */
  scopes: string[];
}

/** A managed identity's service principal. */
export interface ManagedIdentityRecord {
  tenantId: string;
  clientId: string;
  objectId: string;
  resourceId: string;
  kind: 'system' | 'user';
  roles: string[];
}

/** An API tokens can be requested for. */
export interface ResourceRecord {
  appIdUri: string;
  appId: string;
  /** Roles granted to every client; undefined means "the client's own roles" (demo API). */
  roles?: string[];
}

/** The application id of Entra's token exchange app: the `aud` of its tokens. */
export const TOKEN_EXCHANGE_APP_ID = 'fb60f99c-7a34-4190-8149-302f77469936';

/** The audience of the token exchange: always known, never carries roles. */
const TOKEN_EXCHANGE_RESOURCE: ResourceRecord = {
  appIdUri: TOKEN_EXCHANGE_AUDIENCE,
  appId: TOKEN_EXCHANGE_APP_ID,
  roles: [],
};

/** Tenants, app registrations, credentials, resources and managed identities: all in memory. */
export class Directory {
  private readonly tenants = new Set<string>();
  /** Verified domains (lower case) and the id of their tenant. */
  private readonly domains = new Map<string, string>();
  private readonly apps = new Map<string, AppRecord>();
  private readonly identities = new Map<string, ManagedIdentityRecord>();
  private readonly resources = new Map<string, ResourceRecord>();
  /** Agent users by tenant and object id, and by tenant and UPN. */
  private readonly agentUsers = new Map<string, AgentUserRecord>();

  constructor(readonly demoApi: ResourceRecord) {
    this.addResource(demoApi);
    this.addResource(TOKEN_EXCHANGE_RESOURCE);
  }

  addTenant(tenantId: string = randomUUID()): string {
    this.tenants.add(tenantId.toLowerCase());
    return tenantId.toLowerCase();
  }

  hasTenant(tenantId: string): boolean {
    return this.tenantIdOf(tenantId) !== undefined;
  }

  /** A verified domain of `tenantId` (`contoso.onmicrosoft.com`): a name of the tenant in URLs. */
  addDomain(tenantId: string, domain: string): void {
    this.domains.set(domain.toLowerCase(), tenantId.toLowerCase());
  }

  /** The id of the tenant named by its id or one of its verified domains, lower case. */
  tenantIdOf(tenant: string): string | undefined {
    const t = tenant.toLowerCase();
    return this.tenants.has(t) ? t : this.domains.get(t);
  }

  /**
   * Registers an app in `tenantId`, or — when `clientId` names an app registered elsewhere — a service
   * principal of that (multi-tenant) app in `tenantId`: same client id, shared credentials, its own
   * object id and role grants, as after admin consent in Entra.
   */
  addApp(
    tenantId: string,
    options: { displayName?: string; roles?: string[]; clientId?: string },
  ): AppRecord {
    const existing =
      options.clientId === undefined
        ? undefined
        : [...this.apps.values()].find((a) => a.clientId === options.clientId?.toLowerCase());
    if (existing?.tenantId === tenantId) return existing;
    const clientId = existing?.clientId ?? options.clientId?.toLowerCase() ?? randomUUID();
    const app: AppRecord = {
      tenantId,
      clientId,
      objectId: randomUUID(),
      displayName: options.displayName ?? existing?.displayName ?? `app-${clientId.slice(0, 8)}`,
      roles: options.roles ?? ['Data.Read'],
      // Credentials belong to the app registration: every service principal shares the same lists.
      secrets: existing?.secrets ?? [],
      certificates: existing?.certificates ?? [],
      sniSubjects: existing?.sniSubjects ?? [],
      federated: existing?.federated ?? [],
    };
    this.apps.set(`${tenantId}|${clientId}`, app);
    return app;
  }

  /** An app of `tenantId` (an app id from another tenant is "not found in the directory"). */
  findApp(tenantId: string, clientId: string): AppRecord | undefined {
    return this.apps.get(`${tenantId.toLowerCase()}|${clientId.toLowerCase()}`);
  }

  /**
   * Registers an agent identity of `blueprint` in `tenantId` (where the blueprint has a service
   * principal): an app with no credential of its own, which trusts its blueprint's token exchange
   * tokens for it — a federated record of the tenant's issuer, subject `subject` (the T1 `sub`).
   */
  addAgentIdentity(
    blueprint: AppRecord,
    tenantId: string,
    options: {
      displayName?: string;
      roles?: string[];
      issuer: string;
      subject(id: string): string;
    },
  ): AppRecord {
    const clientId = randomUUID();
    const agent: AppRecord = {
      tenantId,
      clientId,
      objectId: randomUUID(),
      displayName: options.displayName ?? `agent-${clientId.slice(0, 8)}`,
      roles: options.roles ?? ['Data.Read'],
      secrets: [],
      certificates: [],
      sniSubjects: [],
      federated: [
        {
          issuer: options.issuer,
          subject: options.subject(clientId),
          audience: TOKEN_EXCHANGE_AUDIENCE,
        },
      ],
      parentBlueprint: blueprint.clientId,
    };
    this.apps.set(`${tenantId}|${clientId}`, agent);
    return agent;
  }

  /** Registers the agent user of an agent identity. */
  addAgentUser(
    agent: AppRecord,
    options: { userPrincipalName?: string; scopes?: string[] },
  ): AgentUserRecord {
    const objectId = randomUUID();
    const user: AgentUserRecord = {
      tenantId: agent.tenantId,
      objectId,
      userPrincipalName:
        options.userPrincipalName?.toLowerCase() ??
        `agent-user-${objectId.slice(0, 8)}@dev-authority.local`,
      agentId: agent.clientId,
      scopes: options.scopes ?? ['Data.Read'],
    };
    this.agentUsers.set(`${user.tenantId}|id|${objectId}`, user);
    this.agentUsers.set(`${user.tenantId}|upn|${user.userPrincipalName}`, user);
    return user;
  }

  /** An agent user of `tenantId` by object id or UPN (case-insensitive). */
  findAgentUser(
    tenantId: string,
    by: { objectId?: string; userPrincipalName?: string },
  ): AgentUserRecord | undefined {
    const key =
      by.objectId !== undefined ? `id|${by.objectId}` : `upn|${by.userPrincipalName ?? ''}`;
    return this.agentUsers.get(`${tenantId.toLowerCase()}|${key.toLowerCase()}`);
  }

  addResource(resource: ResourceRecord): void {
    this.resources.set(resource.appIdUri.toLowerCase(), resource);
    this.resources.set(resource.appId.toLowerCase(), resource);
  }

  /** The resource named by a scope's resource part (App ID URI or application id). */
  findResource(identifier: string): ResourceRecord | undefined {
    return this.resources.get(identifier.toLowerCase().replace(/\/+$/, ''));
  }

  addManagedIdentity(options: {
    tenantId: string;
    kind: 'system' | 'user';
    roles?: string[];
  }): ManagedIdentityRecord {
    if (options.kind === 'system' && this.systemIdentity() !== undefined) {
      throw new Error('dev-authority: this host already has a system-assigned managed identity');
    }
    const clientId = randomUUID();
    const name = `mi-${clientId.slice(0, 8)}`;
    const base = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dev-authority';
    const record: ManagedIdentityRecord = {
      tenantId: options.tenantId.toLowerCase(),
      clientId,
      objectId: randomUUID(),
      kind: options.kind,
      roles: options.roles ?? ['Data.Read'],
      resourceId:
        options.kind === 'system'
          ? `${base}/providers/Microsoft.Web/sites/dev-authority-site`
          : `${base}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    };
    this.identities.set(clientId, record);
    return record;
  }

  systemIdentity(): ManagedIdentityRecord | undefined {
    return [...this.identities.values()].find((mi) => mi.kind === 'system');
  }

  /** A user-assigned identity by client id, object id or resource id (case-insensitive). */
  findUserIdentity(by: {
    clientId?: string;
    objectId?: string;
    resourceId?: string;
  }): ManagedIdentityRecord | undefined {
    const eq = (a: string, b?: string) => b !== undefined && a.toLowerCase() === b.toLowerCase();
    return [...this.identities.values()].find(
      (mi) =>
        mi.kind === 'user' &&
        (eq(mi.clientId, by.clientId) ||
          eq(mi.objectId, by.objectId) ||
          eq(mi.resourceId, by.resourceId)),
    );
  }
}

/** A random client secret in Entra's style (40 characters). */
export function newSecretValue(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, '~').replace(/\//g, '_');
}

/** Constant-time string comparison. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

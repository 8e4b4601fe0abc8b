import { randomUUID } from 'node:crypto';
import {
  agentIdentityHandle,
  createAgentBlueprint,
  createApp,
  type AgentHandleDeps,
} from './app-handle';
import type { Directory } from './directory';
import type { AuthorityPki } from './pki';
import type { TokenIssuer } from './token-issuer';
import type { AgentBlueprint, AgentIdentity, App, ManagedIdentity, Tenant } from './types';

/**
 * The handles tests hold on the directory — a tenant, its apps and agent identity blueprints, an
 * agent identity — made over the directory's records, the authority's PKI and its issuer.
 */
export class DirectoryHandles {
  constructor(
    private readonly directory: Directory,
    private readonly pki: AuthorityPki,
    private readonly issuer: TokenIssuer,
  ) {}

  /** Registers a tenant; the handle creates its apps and blueprints. */
  createTenant(options: { tenantId?: string } = {}): Tenant {
    const tenantId = this.directory.addTenant(options.tenantId);
    return {
      tenantId,
      addDomain: (domain) => this.directory.addDomain(tenantId, domain),
      createApp: (appOptions = {}) => {
        const record = this.directory.addApp(tenantId, appOptions);
        const secret = appOptions.secret;
        if (secret !== undefined && !record.secrets.some((s) => s.value === secret)) {
          record.secrets.push({ value: secret, expiresAt: new Date(Date.now() + 180 * 86400_000) });
        }
        return createApp(record, this.pki);
      },
      createAgentBlueprint: (appOptions = {}) => {
        const record = this.directory.addApp(tenantId, appOptions);
        return createAgentBlueprint(record, this.blueprintDeps());
      },
    };
  }

  /** Handle of an existing agent identity blueprint (for the control API). */
  agentBlueprint(tenantId: string, clientId: string): AgentBlueprint | undefined {
    const record = this.directory.findApp(tenantId, clientId);
    if (record?.blueprint !== true) return undefined;
    return createAgentBlueprint(record, this.blueprintDeps());
  }

  /** Handle of an existing agent identity (for the control API). */
  agentIdentity(tenantId: string, clientId: string): AgentIdentity | undefined {
    const record = this.directory.findApp(tenantId, clientId);
    return record?.parentBlueprint === undefined
      ? undefined
      : agentIdentityHandle(record, this.directory);
  }

  /** Handle of an existing app (for the control API). */
  app(tenantId: string, clientId: string): App | undefined {
    const record = this.directory.findApp(tenantId, clientId);
    return record === undefined ? undefined : createApp(record, this.pki);
  }

  /** Registers an API (a resource) apps may get tokens for, with its app roles. */
  createResource(options: { appIdUri: string; roles?: string[] }): void {
    this.directory.addResource({
      appIdUri: options.appIdUri.replace(/\/+$/, ''),
      appId: randomUUID(),
      roles: options.roles ?? [],
    });
  }

  /** Registers a managed identity; its handle. */
  createManagedIdentity(options: {
    tenantId: string;
    kind: 'system' | 'user';
    roles?: string[];
  }): ManagedIdentity {
    const record = this.directory.addManagedIdentity(options);
    return {
      clientId: record.clientId,
      objectId: record.objectId,
      resourceId: record.resourceId,
      kind: record.kind,
      tenantId: record.tenantId,
    };
  }

  /** What a blueprint's handle needs to create its agent identities. */
  private blueprintDeps(): AgentHandleDeps {
    return {
      directory: this.directory,
      pki: this.pki,
      issuer: (t) => this.issuer.issuer(t),
    };
  }
}

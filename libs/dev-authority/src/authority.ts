import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Server } from 'node:https';
import { join } from 'node:path';
import { createControlApi } from './control-api';
import type { CryptoKeyPair } from './crypto-types';
import { Directory } from './directory';
import { DirectoryHandles } from './directory-handles';
import { ServiceAccountIssuer } from './external-issuer';
import { Faults } from './faults';
import { KEY_VAULT_RESOURCE, KeyVaultEmulation } from './key-vault';
import { ManagedIdentityHosts } from './managed-identity-hosts';
import type { AuthorityPki } from './pki';
import { RequestLog } from './request-log';
import { Revocations, type RevocationChallenge } from './revocation';
import { authorityRoutes, mtlsRoutes, type RouteDeps } from './routes';
import { requestListener } from './server';
import type { LifetimePolicy } from './token-endpoint';
import { TokenIssuer } from './token-issuer';
import type {
  AgentBlueprint,
  AgentIdentity,
  App,
  ArcEmulation,
  DevAuthority,
  DevAuthorityOptions,
  ImdsEmulation,
  KeyVault,
  ManagedIdentity,
  RequestLogEntry,
  Tenant,
} from './types';

/** App ID URI of the demo API. */
export const DEMO_API_APP_ID_URI = 'api://dev-api';

/** Infrastructure keys of an authority. */
export interface InfraKeys {
  ca: CryptoKeyPair;
  server: CryptoKeyPair;
  signing: CryptoKeyPair;
  sniRoot: CryptoKeyPair;
  sniIntermediate: CryptoKeyPair;
  externalIssuer: CryptoKeyPair;
}

/** What start-up hands the authority. */
export interface Setup {
  stateDir: string;
  ownsStateDir: boolean;
  caPath: string;
  pki: AuthorityPki;
  keys: InfraKeys;
  /** The listener that asks clients for a certificate (Entra's mtlsauth host), and its origin. */
  mtls: { server: Server; url: string };
}

/** The running authority behind the {@link DevAuthority} handle. */
export class LocalAuthority implements DevAuthority {
  readonly host: string;
  readonly caPem: string;
  readonly caPath: string;
  readonly apiUrl: string;
  readonly mtlsUrl: string;
  readonly apiScope = `${DEMO_API_APP_ID_URI}/.default`;
  readonly apiAppId = randomUUID();
  readonly managedIdentity: { endpoint: string; header: string };
  readonly imds: ImdsEmulation;
  readonly arc: ArcEmulation;
  private readonly hosts: ManagedIdentityHosts;
  readonly control: { url: string; token: string };
  readonly faults: DevAuthority['faults'];
  private readonly faultSet = new Faults();
  private readonly requestLog: RequestLog;
  private readonly directory: Directory;
  private readonly handles: DirectoryHandles;
  private readonly revocations = new Revocations();
  private readonly timers = new Set<NodeJS.Timeout>();
  private defaultLifetime: LifetimePolicy;
  private readonly tenantLifetimes = new Map<string, LifetimePolicy>();
  private closed = false;
  private tlsCount = 0;
  private vault?: KeyVaultEmulation;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: DevAuthorityOptions,
    private readonly setup: Setup,
    private readonly issuer: TokenIssuer,
    readonly externalIssuer: ServiceAccountIssuer,
  ) {
    this.host = url.replace('https://', '');
    this.caPem = setup.pki.ca.certificatePem;
    this.caPath = setup.caPath;
    this.apiUrl = `${url}/api`;
    this.mtlsUrl = setup.mtls.url;
    this.hosts = new ManagedIdentityHosts(
      url,
      options.arcKeyDirectory ?? join(setup.stateDir, 'azcmagent-tokens'),
    );
    this.managedIdentity = this.hosts.appService;
    this.imds = this.hosts.imds;
    this.arc = this.hosts.arc;
    this.control = { url: `${url}/_control`, token: randomBytes(16).toString('hex') };
    this.requestLog = new RequestLog(options.requestLogSize);
    this.directory = new Directory({ appIdUri: DEMO_API_APP_ID_URI, appId: this.apiAppId });
    this.handles = new DirectoryHandles(this.directory, setup.pki, issuer);
    this.defaultLifetime = { seconds: options.accessTokenLifetimeSeconds ?? 3600 };
    this.faults = {
      add: (f) => this.faultSet.add(f),
      remove: (id) => this.faultSet.remove(id),
      clear: () => this.faultSet.clear(),
    };
  }

  /** Wires the token issuer, external issuer and routes to a listening server. */
  static async create(
    server: Server,
    origin: string,
    options: DevAuthorityOptions,
    setup: Setup,
  ): Promise<LocalAuthority> {
    const issuer = await TokenIssuer.create(setup.keys.signing, origin);
    const external = await ServiceAccountIssuer.create(
      origin,
      setup.keys.externalIssuer,
      () => new Date(),
    );
    const authority = new LocalAuthority(server, origin, options, setup, issuer, external);
    authority.listen();
    return authority;
  }

  get log(): ReadonlyArray<RequestLogEntry> {
    return this.requestLog.all;
  }

  /** TLS connections accepted since start: what a client's connection pooling costs the server. */
  get tlsConnections(): number {
    return this.tlsCount;
  }

  private listen(): void {
    this.server.on('secureConnection', () => this.tlsCount++);
    const routeDeps: RouteDeps = {
      origin: this.url,
      directory: this.directory,
      issuer: this.issuer,
      externalIssuer: this.externalIssuer,
      clockToleranceSeconds: this.options.clockToleranceSeconds ?? 300,
      sniRoot: new X509Certificate(this.setup.pki.sniRoot.certificatePem),
      lifetime: (tenantId) => this.tenantLifetimes.get(tenantId) ?? this.defaultLifetime,
      revocations: this.revocations,
      ...this.hosts.routeDeps,
      apiAudiences: [this.apiAppId, DEMO_API_APP_ID_URI],
      keyVault: () => this.vault,
    };
    const common = {
      faults: this.faultSet,
      log: this.requestLog,
      sleep: (ms: number) => this.sleep(ms),
    };
    this.server.on(
      'request',
      requestListener({
        ...common,
        origin: this.url,
        router: authorityRoutes(routeDeps),
        control: createControlApi(this),
      }),
    );
    // Its token endpoint and the demo API, seeing the client certificate; no control API.
    this.setup.mtls.server.on(
      'request',
      requestListener({
        ...common,
        origin: this.mtlsUrl,
        router: mtlsRoutes(routeDeps),
        control: async (_req, res) => {
          res.writeHead(404).end();
        },
      }),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  createTenant(options: { tenantId?: string } = {}): Tenant {
    return this.handles.createTenant(options);
  }

  /** Handle of an existing agent identity blueprint (for the control API). */
  agentBlueprint(tenantId: string, clientId: string): AgentBlueprint | undefined {
    return this.handles.agentBlueprint(tenantId, clientId);
  }

  /** Handle of an existing agent identity (for the control API). */
  agentIdentity(tenantId: string, clientId: string): AgentIdentity | undefined {
    return this.handles.agentIdentity(tenantId, clientId);
  }

  /** Handle of an existing app (for the control API). */
  app(tenantId: string, clientId: string): App | undefined {
    return this.handles.app(tenantId, clientId);
  }

  /**
   * Revokes the tokens issued to an app before now (as Entra does on a critical event): the demo
   * API refuses them with a claims challenge (`insufficient_claims`, to clients with the `cp1`
   * capability) or a plain `invalid_token`; tokens issued from now on are accepted.
   */
  revokeTokens(
    tenantId: string,
    clientId: string,
    challenge: RevocationChallenge = 'insufficient_claims',
  ): number {
    return this.revocations.revoke(tenantId, clientId, new Date(), challenge);
  }

  createResource(options: { appIdUri: string; roles?: string[] }): void {
    this.handles.createResource(options);
  }

  setAccessTokenLifetime(
    seconds: number,
    options: {
      tenantId?: string;
      refreshInSeconds?: number;
      identityCacheMarginSeconds?: number;
    } = {},
  ): void {
    const policy = {
      seconds,
      refreshInSeconds: options.refreshInSeconds,
      identityCacheMarginSeconds: options.identityCacheMarginSeconds,
    };
    if (options.tenantId === undefined) this.defaultLifetime = policy;
    else this.tenantLifetimes.set(options.tenantId.toLowerCase(), policy);
  }

  countTokenRequests(filter?: Parameters<DevAuthority['countTokenRequests']>[0]): number {
    return this.requestLog.countTokenRequests(filter);
  }

  resetLog(): void {
    this.requestLog.reset();
  }

  createManagedIdentity(options: {
    tenantId: string;
    kind: 'system' | 'user';
    roles?: string[];
  }): ManagedIdentity {
    return this.handles.createManagedIdentity(options);
  }

  createKeyVault(options: { tenantId: string }): KeyVault {
    if (this.vault !== undefined) throw new Error('dev-authority: a key vault exists already');
    const appId = randomUUID();
    this.directory.addResource({ appIdUri: KEY_VAULT_RESOURCE, appId, roles: [] });
    const vault = new KeyVaultEmulation(
      {
        origin: this.url,
        issuer: this.issuer,
        audiences: [appId, KEY_VAULT_RESOURCE],
        revocations: this.revocations,
      },
      options.tenantId.toLowerCase(),
    );
    this.vault = vault;
    return {
      url: this.url,
      tenantId: vault.tenantId,
      createKey: (name) => vault.createKey(name),
      setKeyEnabled: (name, enabled, version) => vault.setEnabled(name, enabled, version),
      grant: (objectId, permissions) => vault.grant(objectId, permissions),
      get signatures() {
        return vault.signatures;
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = [this.server, this.setup.mtls.server].map((server) => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return done;
    });
    await Promise.all(closed);
    await this.hosts.close();
    if (this.setup.ownsStateDir) await rm(this.setup.stateDir, { recursive: true, force: true });
  }
}

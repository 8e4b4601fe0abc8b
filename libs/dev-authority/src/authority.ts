import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Server } from 'node:https';
import { createApp } from './app-handle';
import { createControlApi } from './control-api';
import { openIdConfiguration, signingKeys } from './discovery';
import { Directory } from './directory';
import { EXTERNAL_ISSUER_PATH, ServiceAccountIssuer } from './external-issuer';
import { entraErrorBody, EntraError } from './errors';
import { Faults } from './faults';
import { Router } from './http';
import {
  describeManagedIdentityRequest,
  handleManagedIdentity,
  MANAGED_IDENTITY_PATH,
} from './managed-identity-endpoint';
import { ARC_TOKEN_PATH, handleArc } from './arc-endpoint';
import { ArcKeys } from './arc-keys';
import { IdentityTokenCache } from './identity-token-cache';
import {
  describeIdentityRequest,
  handleImds,
  ImdsMaintenance,
  IMDS_TOKEN_PATH,
} from './imds-endpoint';
import type { AuthorityPki, IssuedCertificate } from './pki';
import { handleApiData } from './protected-api';
import { RequestLog } from './request-log';
import { Revocations, type RevocationChallenge } from './revocation';
import { dispatch, type Route } from './server';
import {
  describeTokenRequest,
  handleTokenRequest,
  resolveTenant,
  type LifetimePolicy,
} from './token-endpoint';
import type { RequestContext } from './http';
import { TokenIssuer } from './token-issuer';
import { join } from 'node:path';
import type {
  ArcEmulation,
  DevAuthority,
  DevAuthorityOptions,
  ImdsEmulation,
  ManagedIdentity,
  Tenant,
} from './types';
import type { CryptoKey, CryptoKeyPair } from './crypto-types';

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
}

/** The running authority behind the {@link DevAuthority} handle. */
export class LocalAuthority implements DevAuthority {
  readonly host: string;
  readonly caPem: string;
  readonly caPath: string;
  readonly apiUrl: string;
  readonly apiScope = `${DEMO_API_APP_ID_URI}/.default`;
  readonly apiAppId = randomUUID();
  readonly managedIdentity: { endpoint: string; header: string };
  readonly imds: ImdsEmulation;
  readonly arc: ArcEmulation;
  private readonly imdsMaintenance = new ImdsMaintenance();
  private readonly arcKeys: ArcKeys;
  readonly control: { url: string; token: string };
  readonly faults: DevAuthority['faults'];
  private readonly faultSet = new Faults();
  private readonly requestLog: RequestLog;
  private readonly directory: Directory;
  private readonly revocations = new Revocations();
  private readonly identityTokens = new IdentityTokenCache();
  private readonly timers = new Set<NodeJS.Timeout>();
  private defaultLifetime: LifetimePolicy;
  private readonly tenantLifetimes = new Map<string, LifetimePolicy>();
  private closed = false;
  private tlsCount = 0;

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
    this.managedIdentity = {
      endpoint: `${url}${MANAGED_IDENTITY_PATH}`,
      header: randomBytes(16).toString('hex'),
    };
    const maintenance = this.imdsMaintenance;
    this.imds = {
      host: url,
      environment: { AZURE_POD_IDENTITY_AUTHORITY_HOST: url },
      maintenance: (ms) => maintenance.start(ms),
    };
    this.arcKeys = new ArcKeys(options.arcKeyDirectory ?? join(setup.stateDir, 'azcmagent-tokens'));
    this.arc = {
      identityEndpoint: `${url}${ARC_TOKEN_PATH}`,
      imdsEndpoint: `${url}/arc`,
      keyDirectory: this.arcKeys.directory,
      environment: { IDENTITY_ENDPOINT: `${url}${ARC_TOKEN_PATH}`, IMDS_ENDPOINT: `${url}/arc` },
    };
    this.control = { url: `${url}/_control`, token: randomBytes(16).toString('hex') };
    this.requestLog = new RequestLog(options.requestLogSize);
    this.directory = new Directory({ appIdUri: DEMO_API_APP_ID_URI, appId: this.apiAppId });
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

  get log(): ReadonlyArray<import('./types').RequestLogEntry> {
    return this.requestLog.all;
  }

  /** TLS connections accepted since start: what a client's connection pooling costs the server. */
  get tlsConnections(): number {
    return this.tlsCount;
  }

  private listen(): void {
    this.server.on('secureConnection', () => this.tlsCount++);
    const control = createControlApi(this);
    const router = this.routes();
    this.server.on('request', (req, res) => {
      dispatch(
        {
          origin: this.url,
          router,
          faults: this.faultSet,
          log: this.requestLog,
          sleep: (ms) => this.sleep(ms),
          control,
        },
        req,
        res,
      ).catch(() => {
        // A bug of this authority, not an answer Entra gives: still Entra's 500 body, which
        // clients parse, and no internal error text (it could carry request content).
        if (!res.headersSent) {
          const err = new EntraError(
            50000,
            'There was an error issuing a token or an issue with our sign-in service.',
          );
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(entraErrorBody(err, this.url, new Date())));
        }
      });
    });
  }

  private routes(): Router<Route> {
    const tenantParam = async (ctx: RequestContext) => {
      ctx.log.tenantId = ctx.params.tenant.toLowerCase();
    };
    const lifetime = (tenantId: string) =>
      this.tenantLifetimes.get(tenantId) ?? this.defaultLifetime;
    const tokenDeps = {
      origin: this.url,
      directory: this.directory,
      issuer: this.issuer,
      clockToleranceSeconds: this.options.clockToleranceSeconds ?? 300,
      sniRoot: new X509Certificate(this.setup.pki.sniRoot.certificatePem),
      lifetime,
      federatedKey: (iss: string) => this.federatedKey(iss),
      resourceUri: (aud: string) => this.directory.findResource(aud)?.appIdUri,
      revocations: this.revocations,
    };
    const discovery: Route = {
      target: 'discovery',
      prelude: tenantParam,
      handle: async (ctx) => {
        const tenantId = resolveTenant(this.directory, ctx.params.tenant);
        ctx.log.tenantId = tenantId;
        return openIdConfiguration(this.url, tenantId, this.issuer);
      },
    };
    const keys: Route = {
      target: 'keys',
      prelude: tenantParam,
      handle: async (ctx) => signingKeys(ctx, this.issuer),
    };
    // The issuer's routes go first: '/:tenant/.well-known/...' would otherwise take them.
    return new Router<Route>()
      .add('GET', `${EXTERNAL_ISSUER_PATH}/.well-known/openid-configuration`, {
        target: 'issuer',
        handle: async () => this.externalIssuer.discovery(),
      })
      .add('GET', `${EXTERNAL_ISSUER_PATH}/openid/v1/jwks`, {
        target: 'issuer',
        handle: async () => this.externalIssuer.jwks(),
      })
      .add('GET', '/:tenant/v2.0/.well-known/openid-configuration', discovery)
      .add('GET', '/:tenant/.well-known/openid-configuration', discovery)
      .add('GET', '/:tenant/discovery/v2.0/keys', keys)
      .add('GET', '/:tenant/discovery/keys', keys)
      .add('POST', '/:tenant/oauth2/v2.0/token', {
        target: 'token',
        prelude: describeTokenRequest,
        handle: (ctx) => handleTokenRequest(ctx, tokenDeps),
      })
      .add('GET', MANAGED_IDENTITY_PATH, {
        target: 'managed-identity',
        prelude: async (ctx) => describeManagedIdentityRequest(ctx, this.directory),
        handle: (ctx) =>
          handleManagedIdentity(ctx, {
            directory: this.directory,
            issuer: this.issuer,
            header: this.managedIdentity.header,
            lifetime,
            cache: this.identityTokens,
          }),
      })
      .add('GET', IMDS_TOKEN_PATH, {
        target: 'imds',
        prelude: async (ctx) => describeIdentityRequest(ctx, this.directory),
        handle: (ctx) =>
          handleImds(ctx, {
            directory: this.directory,
            issuer: this.issuer,
            lifetime,
            maintenance: this.imdsMaintenance,
          }),
      })
      .add('GET', ARC_TOKEN_PATH, {
        target: 'arc',
        prelude: async (ctx) => describeIdentityRequest(ctx, this.directory, true),
        handle: (ctx) =>
          handleArc(ctx, {
            directory: this.directory,
            issuer: this.issuer,
            lifetime,
            keys: this.arcKeys,
          }),
      })
      .add('GET', '/api/data', {
        target: 'api',
        handle: (ctx) =>
          handleApiData(ctx, {
            issuer: this.issuer,
            audiences: [this.apiAppId, DEMO_API_APP_ID_URI],
            isTenant: (t) => this.directory.hasTenant(t),
            revocations: this.revocations,
          }),
      });
  }

  private federatedKey(iss: string): CryptoKey | undefined {
    if (iss === this.externalIssuer.url) return this.externalIssuer.publicKey;
    const m = /^(.*)\/([^/]+)\/v2\.0$/.exec(iss);
    if (m !== null && m[1] === this.url && this.directory.hasTenant(m[2]))
      return this.issuer.publicKey;
    return undefined;
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
    const tenantId = this.directory.addTenant(options.tenantId);
    return {
      tenantId,
      createApp: (appOptions = {}) => {
        const record = this.directory.addApp(tenantId, appOptions);
        const secret = appOptions.secret;
        if (secret !== undefined && !record.secrets.some((s) => s.value === secret)) {
          record.secrets.push({ value: secret, expiresAt: new Date(Date.now() + 180 * 86400_000) });
        }
        return createApp(record, this.setup.pki);
      },
    };
  }

  /** Handle of an existing app (for the control API). */
  app(tenantId: string, clientId: string): ReturnType<typeof createApp> | undefined {
    const record = this.directory.findApp(tenantId, clientId);
    return record === undefined ? undefined : createApp(record, this.setup.pki);
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
    this.directory.addResource({
      appIdUri: options.appIdUri.replace(/\/+$/, ''),
      appId: randomUUID(),
      roles: options.roles ?? [],
    });
  }

  setAccessTokenLifetime(
    seconds: number,
    options: { tenantId?: string; refreshInSeconds?: number } = {},
  ): void {
    const policy = { seconds, refreshInSeconds: options.refreshInSeconds };
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
    const record = this.directory.addManagedIdentity(options);
    return {
      clientId: record.clientId,
      objectId: record.objectId,
      resourceId: record.resourceId,
      kind: record.kind,
      tenantId: record.tenantId,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    await this.arcKeys.close();
    if (this.setup.ownsStateDir) await rm(this.setup.stateDir, { recursive: true, force: true });
  }
}

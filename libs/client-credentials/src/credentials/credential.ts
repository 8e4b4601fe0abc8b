import type { LoggerService } from '@nestjs/common';
import { inspect } from 'node:util';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import { AuthorityNetworkClient } from '../authority/msal-network';
import { CredentialTenants } from './credential-tenants';
import {
  NO_PROXY,
  type CredentialSettings,
  type ResolvedCredential,
} from '../options/resolved-options';
import { DpopKey } from '../authority/dpop-key';
import { scopeKey } from '../options/request-validation';
import { createSourceClient, type SourceContext } from './create-source';
import type { TokenMetrics } from '../observability/token-metrics';
import type { ClientCertificate } from '../authority/client-certificate';
import type { CredentialStats } from '../observability/credential-stats';
import type { Fetched, StoreBinding } from './principal';
import { AgentDirectory } from './agents/agent-directory';
import type { Blueprint, ChainRequest } from './agents/blueprint';
import { managedIdentityHost, SourceChain } from './source-chain';
import { isLearnedIdentity, LearnedIdentity } from './learned-identity';

/** Timing settings of a credential. */
export interface CredentialTimings {
  requestMs: number;
  managedIdentityMs: number;
  sourceCoolDownMs: number;
  /** The most agent identities a blueprint keeps (`cache.maxEntries`). */
  maxAgents?: number;
  /** The longest Retry-After honoured: an error says no more. */
  maxRetryAfterMs: number;
}

/**
 * A named credential at run time: its authority, its network clients and one msal application
 * per source, tried in order ({@link SourceChain}: a source that is unavailable or rejected is
 * skipped for a cool-down, then tried again).
 *
 * A multi-tenant app asks for tokens of several tenants with one credential: what one tenant
 * says (a rejection, a failure) is kept for that tenant only, so that a customer that has not
 * consented neither skips a source for the others nor marks the credential as failing.
 */
export class Credential implements Blueprint {
  private readonly network: AuthorityNetworkClient;
  private readonly identityNetwork: AuthorityNetworkClient;
  /** Its sources in order, and which of them to try. */
  private readonly chain: SourceChain;
  /**
   * Which tenants the credential has tokens of: any that consented to its app, or — a managed
   * identity, an issuer named by its URL — its own only (its `tenantProblem` for any other).
   */
  readonly tenants: CredentialTenants;
  /** Live counters of this credential. */
  readonly stats: CredentialStats;

  /** The credential's settings, without its sources and DPoP key (they hold secrets). */
  readonly options: CredentialSettings;
  /** The agent identities of an agent identity blueprint (`agentBlueprint`); undefined otherwise. */
  readonly agents?: AgentDirectory;
  /**
   * The key its tokens are bound to (DPoP), made at start: every token request and every API
   * call of the integrations carries a proof of it.
   */
  readonly dpop?: DpopKey;
  /** What a token read from the store must be to serve it; undefined: plain bearer tokens. */
  readonly binding?: StoreBinding;
  /** Why the configured DPoP key cannot be used, reported by {@link init}. */
  readonly #dpopProblem?: string;
  /**
   * A managed identity its configuration does not name (system-assigned, or by `resourceId` /
   * `objectId`): who it is, learned from its own tokens. Undefined for any other credential.
   */
  readonly #identity?: LearnedIdentity;

  constructor(
    resolved: ResolvedCredential,
    private readonly timings: CredentialTimings,
    private readonly keyPrefix: string,
    private readonly metrics: TokenMetrics,
    private readonly logger: LoggerService,
    /** Tokens of the module's other credentials (a `key-vault` source's vault takes them). */
    tokensOf?: SourceContext['tokensOf'],
  ) {
    const { sources, dpop, ...options } = resolved;
    this.options = options;
    if (dpop !== undefined) {
      try {
        this.dpop = DpopKey.create(dpop);
      } catch (e) {
        this.#dpopProblem = `dpop.${(e as Error).message}`;
      }
    }
    if (dpop !== undefined) this.binding = { tokenType: 'DPoP', certificate: false };
    else if (options.mtls !== undefined) {
      this.binding = {
        tokenType: options.mtls.entraOrigin === undefined ? 'Bearer' : 'mtls_pop',
        certificate: true,
      };
    }
    this.stats = metrics.of(options.name);
    this.network = new AuthorityNetworkClient(
      timings.requestMs,
      options.ca,
      options.proxy,
      options.protocol === 'oidc',
    );
    // Managed identity endpoints are local to the host: never through a proxy (IMDS refuses it).
    this.identityNetwork = new AuthorityNetworkClient(
      timings.managedIdentityMs,
      options.ca,
      NO_PROXY,
    );
    const context = {
      credential: options,
      network: this.network,
      identityNetwork: this.identityNetwork,
      requestMs: timings.requestMs,
      logger,
      tokensOf,
      dpop: this.dpop,
      maxRetryAfterMs: timings.maxRetryAfterMs,
    };
    const clients = sources.map((s, i) => createSourceClient(s, i, context));
    // Known from the environment at once: health shows where tokens will come from before any.
    const host = clients.map(managedIdentityHost).find((h) => h !== undefined);
    if (host !== undefined) this.stats.managedIdentityHost = host;
    if (isLearnedIdentity(sources)) this.#identity = new LearnedIdentity();
    this.tenants = new CredentialTenants(
      options,
      sources.some((s) => s.type === 'managed-identity'),
    );
    this.chain = new SourceChain(
      clients,
      {
        name: options.name,
        home: this.tenants.home,
        sourceCoolDownMs: timings.sourceCoolDownMs,
        maxRetryAfterMs: timings.maxRetryAfterMs,
      },
      this.stats,
      metrics,
      logger,
    );
    if (options.agentBlueprint !== undefined) {
      this.agents = new AgentDirectory(this, options.agentBlueprint, {
        keyPrefix,
        network: this.network,
        metrics,
        logger,
        maxAgents: timings.maxAgents,
        maxRetryAfterMs: timings.maxRetryAfterMs,
        requestMs: timings.requestMs,
      });
    }
  }

  get name(): string {
    return this.options.name;
  }

  /** The credential's own tokens are keyed by its name (see {@link Principal.key}). */
  get key(): string {
    return this.options.name;
  }

  /**
   * For a managed identity known only from its tokens (see {@link LearnedIdentity}), which one it
   * is once this process has a token of its own (`oid=…;tid=…`): stored with each token and
   * checked when one is read back. Undefined for a credential its configuration names.
   */
  get subject(): string | undefined {
    return this.#identity?.subject;
  }

  /**
   * Loads the sources' files and keys; returns problems as `sources[i].field: …`. A source whose
   * file is missing is skipped for now rather than a problem, unless no source is left.
   */
  async init(): Promise<string[]> {
    const problems = await this.chain.init();
    return [...(this.#dpopProblem === undefined ? [] : [this.#dpopProblem]), ...problems];
  }

  /**
   * Store keys of a token, one per source, in source order. They name the authority, tenant,
   * client, credential and source, and scopes, and carry no secret. The credential's name is in
   * them so that two credentials of one app (say, a right and a wrong secret) never share tokens;
   * replicas, which share their configuration, do. A managed identity its configuration does not
   * name has none until this process has a token of its own, then keys naming that identity
   * ({@link subject}): hosts with the same configuration and different identities never share.
   * With `mtls`, a source whose certificate is not loaded (its file not there yet) has none
   * (`''`): its key would be the one of the same credential without `mtls` — bearer tokens.
   */
  storeKeys(tenantId: string, scopeKey: string, certificateThumbprint?: string): string[] {
    const { authorityHost, name, tokenRequest } = this.options;
    let { clientId } = this.options;
    if (this.#identity !== undefined) {
      const subject = this.#identity.subject;
      if (subject === undefined) return [];
      clientId = `${clientId};${subject}`;
    }
    // Tokens asked with other fixed parameters (another `audience`) are other tokens.
    const extras = tokenRequest === undefined ? '' : `~${tokenRequest.digest}`;
    // A bound token is of use only with its key or certificate: replicas with a key of their own
    // never adopt each other's, those sharing one (a configured `privateKey`, the same
    // certificate) share its tokens, and a rotated certificate has tokens of its own. A token
    // just issued is stored under the certificate it is bound to (`certificateThumbprint`).
    return this.chain.clients.map((c, i) => {
      const x5t = certificateThumbprint ?? this.boundThumbprint(i);
      if (this.options.mtls !== undefined && x5t === undefined) return '';
      const bound =
        this.dpop !== undefined ? `@dpop:${this.dpop.jkt}` : x5t !== undefined ? `@x5t:${x5t}` : '';
      return `${this.keyPrefix}${authorityHost}|${tenantId}|${clientId}|${name}/${c.source.id}${extras}${bound}|${scopeKey}`;
    });
  }

  /**
   * The `x5t#S256` of the certificate source `index` presents now, when this credential's tokens
   * are bound to certificates (`mtls`); undefined otherwise.
   */
  boundThumbprint(index: number): string | undefined {
    if (this.options.mtls === undefined) return undefined;
    return (this.chain.clients[index].source as { certificateThumbprint?: string })
      .certificateThumbprint;
  }

  /** The certificate of this thumbprint among its sources', current or rotated out lately. */
  boundCertificate(thumbprint: string): ClientCertificate | undefined {
    for (const c of this.chain.clients) {
      const found = (
        c.source as { certificateOf?: (t: string) => ClientCertificate | undefined }
      ).certificateOf?.(thumbprint);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /**
   * One token request per source, in order, skipping sources in their cool-down, until one
   * succeeds or a failure is not about the source (an outage is not a reason to change identity).
   * Records the outcome in the stats of the tenant. `claims` (a resource's claims challenge) go
   * with the request; `refused` is the token this one replaces — refused by an API, or renewed by
   * a background refresh (see {@link SourceRequest.refused}).
   * @throws InvalidRequestError `tenant_unsupported` before any request (see
   *   {@link CredentialTenants.problem})
   */
  async fetch(
    tenantId: string,
    scopes: readonly string[],
    claims?: string,
    refused?: string,
  ): Promise<Fetched> {
    return this.fetchFor(tenantId, scopes, { claims, refused });
  }

  /**
   * {@link fetch}, and, with `fmiPath`, a blueprint's token exchange token for that agent identity
   * (its outcome recorded as the agent's).
   */
  async fetchFor(
    tenantId: string,
    scopes: readonly string[],
    request: ChainRequest,
  ): Promise<Fetched> {
    const problem = this.tenants.problem(tenantId);
    if (problem !== undefined) throw problem;
    const tenant = tenantId.toLowerCase();
    const agent = request.fmiPath;
    try {
      const fetched = await this.chain.fetch(tenantId, tenant, scopes, request);
      if (agent === undefined) {
        this.tenants.checkConfigured(fetched.issued.token);
        // Only a token of its own teaches who it is, never one read from a store.
        this.#identity?.learnFrom(fetched.issued.token);
        this.recordSuccess(
          tenantId,
          fetched.issued.expiresOn,
          fetched.issued.token,
          scopeKey(scopes),
        );
      } else {
        const { expiresOn } = fetched.issued;
        this.metrics.success(this.name, expiresOn, undefined, agent, scopeKey(scopes));
      }
      return fetched;
    } catch (e) {
      const error = e as ClientCredentialsError;
      this.metrics.failure(
        this.name,
        error.code,
        error.aadsts,
        error.message,
        this.otherTenant(tenantId),
        agent,
        scopeKey(scopes),
      );
      throw error;
    }
  }

  /**
   * Records a token of `tenantId` obtained or adopted from the store (another replica's): for
   * health and readiness, it counts as this credential working in that tenant.
   */
  recordSuccess(tenantId: string, expiresOn: number, token: string, scopeKey?: string): void {
    this.tenants.learnFrom(token, tenantId);
    this.metrics.success(this.name, expiresOn, this.otherTenant(tenantId), undefined, scopeKey);
  }

  /** The tenant to record under: undefined for the home tenant, whose stats are the credential's. */
  private otherTenant(tenantId: string): string | undefined {
    const tenant = tenantId.toLowerCase();
    return tenant === this.tenants.home ? undefined : tenant;
  }

  /** The id of source `index` (`secret#0`). */
  sourceId(index: number): string {
    return this.chain.sourceId(index);
  }

  /** Sources as safe to log (no secret material). */
  describeSources(): Record<string, unknown>[] {
    return this.chain.clients.map((c) => c.source.toJSON());
  }

  toJSON(): Record<string, unknown> {
    return {
      ...this.options,
      sources: this.describeSources(),
      ...(this.dpop === undefined ? {} : { dpop: this.dpop.toJSON() }),
    };
  }

  [inspect.custom](): string {
    return `Credential ${inspect(this.toJSON())}`;
  }

  async close(): Promise<void> {
    await this.chain.close();
    await Promise.all([this.network.close(), this.identityNetwork.close()]);
  }
}

import { now } from '../timing/clock';
import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import { toClientCredentialsError } from '../errors/to-client-credentials-error';
import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';
import { AuthorityNetworkClient } from '../authority/msal-network';
import { checkIssued } from '../authority/token-response';
import { tenantOfToken } from './token-tenant';
import { NO_PROXY, type ResolvedCredential } from '../options/resolved-options';
import { EVERY_TENANT, SourceSkips } from './source-skips';
import { createSourceClient } from './create-source';
import type { TokenMetrics } from '../observability/token-metrics';
import type { IssuedToken, SourceClient } from '../authority/source-client';
import type { CredentialStats } from '../observability/credential-stats';

/** The managed identity host behind a source (itself, or the identity of its assertion). */
function managedIdentityHost(client: SourceClient): ManagedIdentityHost | undefined {
  return (
    (client as { host?: ManagedIdentityHost }).host ??
    (client.source as { host?: ManagedIdentityHost }).host
  );
}

/** Errors after which the next source of the chain is tried. */
const NEXT_SOURCE_CODES: ReadonlySet<string> = new Set([
  'credential_rejected',
  'assertion_failed',
  'source_unavailable',
]);

/** Timing settings of a credential. */
export interface CredentialTimings {
  requestMs: number;
  managedIdentityMs: number;
  sourceCoolDownMs: number;
  /** The longest Retry-After honoured: an error says no more. */
  maxRetryAfterMs: number;
}

/**
 * A named credential at run time: its authority, its network clients and one msal application
 * per source, tried in order. A source that is unavailable or rejected is skipped for a
 * cool-down (its reason logged once and kept in `stats.skippedSources`), then tried again.
 *
 * A multi-tenant app asks for tokens of several tenants with one credential: what one tenant
 * says (a rejection, a failure) is kept for that tenant only, so that a customer that has not
 * consented neither skips a source for the others nor marks the credential as failing.
 */
export class Credential {
  private readonly network: AuthorityNetworkClient;
  private readonly identityNetwork: AuthorityNetworkClient;
  private readonly clients: SourceClient[];
  /** Sources of the chain being passed over, per tenant or for every tenant. */
  private readonly skips: SourceSkips;
  /** The home tenant, lower case: tenant ids and domains are not case-sensitive. */
  private readonly home: string;
  /** A managed identity has tokens of its own tenant only. */
  private readonly identityOnly: boolean;
  /**
   * A managed identity's own tenant (lower case), read from the `tid` of its tokens: it is
   * configured nowhere (its `tenantId` is a placeholder), yet an SDK that follows a resource's
   * challenge names it (Key Vault, Storage, Service Bus).
   */
  #ownTenant?: string;
  /** Live counters of this credential. */
  readonly stats: CredentialStats;

  /** The credential's settings, without its sources (they hold secrets). */
  readonly options: Omit<ResolvedCredential, 'sources'>;

  constructor(
    resolved: ResolvedCredential,
    private readonly timings: CredentialTimings,
    private readonly keyPrefix: string,
    private readonly metrics: TokenMetrics,
    private readonly logger: LoggerService,
  ) {
    const { sources, ...options } = resolved;
    this.options = options;
    this.stats = metrics.of(options.name);
    this.network = new AuthorityNetworkClient(timings.requestMs, options.ca, options.proxy);
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
    };
    this.clients = sources.map((s, i) => createSourceClient(s, i, context));
    // Known from the environment at once: health shows where tokens will come from before any.
    const host = this.clients.map(managedIdentityHost).find((h) => h !== undefined);
    if (host !== undefined) this.stats.managedIdentityHost = host;
    this.home = options.tenantId.toLowerCase();
    this.identityOnly = sources.some((s) => s.type === 'managed-identity');
    this.skips = new SourceSkips(
      options.name,
      this.home,
      timings.sourceCoolDownMs,
      (i) => this.sourceId(i),
      this.stats,
      metrics,
      logger,
    );
  }

  get name(): string {
    return this.options.name;
  }

  /**
   * Loads the sources' files and keys; returns problems as `sources[i].field: …`. A source whose
   * file is missing is skipped for now rather than a problem, unless no source is left.
   */
  async init(): Promise<string[]> {
    const unavailable = await Promise.all(
      this.clients.map(async (c) => (c.source.available ? c.source.available() : undefined)),
    );
    const usable = unavailable.some((reason) => reason === undefined);
    const problems = await Promise.all(
      this.clients.map(async (c, i) => {
        const reason = unavailable[i];
        if (reason !== undefined && usable) {
          this.skips.skip(i, EVERY_TENANT, `${reason} (at start-up)`);
          return [];
        }
        return (await c.source.init()).map((p) => `sources[${i}].${p}`);
      }),
    );
    this.noteCertificates();
    return problems.flat();
  }

  /**
   * Store keys of a token, one per source, in source order. They name the authority, tenant,
   * client, credential and source, and scopes, and carry no secret. The credential's name is in
   * them so that two credentials of one app (say, a right and a wrong secret) never share tokens;
   * replicas, which share their configuration, do.
   */
  storeKeys(tenantId: string, scopeKey: string): string[] {
    const { authorityHost, clientId, name } = this.options;
    return this.clients.map(
      (c) =>
        `${this.keyPrefix}${authorityHost}|${tenantId}|${clientId}|${name}/${c.source.id}|${scopeKey}`,
    );
  }

  /**
   * Why this credential cannot get tokens of `tenantId`, as a typed error; undefined when it can.
   * A managed identity lives in one tenant and has tokens of that tenant only: asked for another,
   * it would answer with a token of its own tenant, which must never be cached as the other's.
   */
  tenantProblem(tenantId: string): InvalidRequestError | undefined {
    const tenant = tenantId.toLowerCase();
    if (tenant === this.home) return undefined;
    // A managed identity's own tenant, once known from its tokens; while unknown, any tenant may
    // be it: the caller checks it against the token's (see assertOwnTenant).
    if (this.identityOnly && (this.#ownTenant === undefined || this.#ownTenant === tenant)) {
      return undefined;
    }
    // A managed identity, or an issuer named by its URL, has one realm: no other tenant to ask.
    const what = this.identityOnly
      ? `is a managed identity of tenant '${this.#ownTenant}': it has tokens of its own tenant only`
      : this.options.issuer !== undefined
        ? `names its issuer (${this.options.issuer}), which has no other tenants`
        : undefined;
    if (what === undefined) return undefined;
    return new InvalidRequestError(
      'tenant_unsupported',
      `Credential '${this.name}' ${what}, not tenant '${tenantId}'.`,
      { credential: this.name, tenantId },
    );
  }

  /**
   * Whether this credential has tokens of one tenant only, its own: a managed identity, or an
   * issuer named by its URL. A tenant asked of it is then its own or refused ({@link tenantProblem}).
   */
  get ownTenantOnly(): boolean {
    return this.identityOnly || this.options.issuer !== undefined;
  }

  /**
   * The tenant of this credential's tokens: a managed identity's own tenant once a token showed
   * it, else the configured `tenantId`.
   */
  get tenantId(): string {
    return this.#ownTenant ?? this.options.tenantId;
  }

  /**
   * Checks that `tenantId`, asked of a managed identity while its tenant was not known, is the
   * tenant its token showed.
   * @throws InvalidRequestError `tenant_unsupported` when it is not (or no token showed one)
   */
  assertOwnTenant(tenantId: string): void {
    if (!this.identityOnly || tenantId.toLowerCase() === this.home) return;
    if (this.#ownTenant === tenantId.toLowerCase()) return;
    throw new InvalidRequestError(
      'tenant_unsupported',
      this.#ownTenant === undefined
        ? `Credential '${this.name}' is a managed identity whose tokens do not name their tenant (no 'tid'): it cannot tell whether tenant '${tenantId}' is its own.`
        : `Credential '${this.name}' is a managed identity of tenant '${this.#ownTenant}': it has tokens of its own tenant only, not tenant '${tenantId}'.`,
      { credential: this.name, tenantId },
    );
  }

  /**
   * One token request per source, in order, skipping sources in their cool-down, until one
   * succeeds or a failure is not about the source (an outage is not a reason to change identity).
   * Records the outcome in the stats of the tenant. `claims` (a resource's claims challenge) go
   * with the request; `replaces` is the token this one replaces, refused by an API or renewed by a
   * background refresh (see {@link SourceClient.acquire}).
   * @throws InvalidRequestError `tenant_unsupported` before any request (see {@link tenantProblem})
   */
  async fetch(
    tenantId: string,
    scopes: readonly string[],
    claims?: string,
    replaces?: string,
  ): Promise<{ issued: IssuedToken; index: number }> {
    const problem = this.tenantProblem(tenantId);
    if (problem !== undefined) throw problem;
    const tenant = tenantId.toLowerCase();
    try {
      const fetched = await this.fetchFromChain(tenantId, tenant, scopes, claims, replaces);
      this.recordSuccess(tenantId, fetched.issued.expiresOn, fetched.issued.token);
      return fetched;
    } catch (e) {
      const error = e as ClientCredentialsError;
      this.metrics.failure(
        this.name,
        error.code,
        error.aadsts,
        error.message,
        this.otherTenant(tenantId),
      );
      throw error;
    }
  }

  /**
   * Records a token of `tenantId` obtained or adopted from the store (another replica's): for
   * health and readiness, it counts as this credential working in that tenant.
   */
  recordSuccess(tenantId: string, expiresOn: number, token: string): void {
    if (this.identityOnly && this.#ownTenant === undefined) this.#ownTenant = tenantOfToken(token);
    this.metrics.success(this.name, expiresOn, this.otherTenant(tenantId));
  }

  private async fetchFromChain(
    tenantId: string,
    tenant: string,
    scopes: readonly string[],
    claims?: string,
    replaces?: string,
  ): Promise<{ issued: IssuedToken; index: number }> {
    const time = now();
    let order = this.clients.map((_, i) => i).filter((i) => this.skips.until(i, tenant) <= time);
    // Every source is cooling down: trying them all beats failing without a try.
    if (order.length === 0) order = this.clients.map((_, i) => i);
    let last: ClientCredentialsError | undefined;
    for (const [position, index] of order.entries()) {
      const client = this.clients[index];
      const started = now();
      // The issued token's times are the wall clock's (the authority's expiry): checked against it.
      const requestedAt = Date.now();
      try {
        const issued = checkIssued(
          await client.acquire(tenantId, scopes, randomUUID(), claims, replaces),
          requestedAt,
        );
        const ms = now() - started;
        this.metrics.request(this.name, client.source.id, 'ok', ms, managedIdentityHost(client));
        this.noteCertificates();
        this.skips.worksAgain(index, tenant);
        return { issued, index };
      } catch (e) {
        last = toClientCredentialsError(
          e,
          { credential: this.name, tenantId },
          this.timings.maxRetryAfterMs,
        );
        const ms = now() - started;
        this.metrics.request(
          this.name,
          client.source.id,
          last.code,
          ms,
          managedIdentityHost(client),
        );
        const another = position + 1 < order.length;
        const moveOn = NEXT_SOURCE_CODES.has(last.code) || client.moveOnAfter?.has(last.code);
        if (!moveOn || this.clients.length === 1) throw last;
        // A rejection is one tenant's word (that tenant has not consented, or disabled the app);
        // a missing file or endpoint holds for every tenant.
        this.skips.skip(
          index,
          last.code === 'credential_rejected' ? tenant : EVERY_TENANT,
          last.message,
        );
        if (!another) throw last;
      }
    }
    throw last!;
  }

  /** The tenant to record under: undefined for the home tenant, whose stats are the credential's. */
  private otherTenant(tenantId: string): string | undefined {
    const tenant = tenantId.toLowerCase();
    return tenant === this.home ? undefined : tenant;
  }

  /** Records the earliest certificate expiry of the sources, for health reports. */
  private noteCertificates(): void {
    const dates = this.clients
      .map((c) => (c.source as { notAfter?: Date }).notAfter)
      .filter((d): d is Date => d instanceof Date);
    this.stats.certificateNotAfter =
      dates.length === 0 ? undefined : new Date(Math.min(...dates.map((d) => d.getTime())));
  }

  /** The id of source `index` (`secret#0`). */
  sourceId(index: number): string {
    return this.clients[index].source.id;
  }

  /** Sources as safe to log (no secret material). */
  describeSources(): Record<string, unknown>[] {
    return this.clients.map((c) => c.source.toJSON());
  }

  toJSON(): Record<string, unknown> {
    return { ...this.options, sources: this.describeSources() };
  }

  [inspect.custom](): string {
    return `Credential ${inspect(this.toJSON())}`;
  }

  async close(): Promise<void> {
    for (const c of this.clients) {
      (c as { release?: () => void }).release?.();
      (c.source as { release?: () => void }).release?.();
    }
    await Promise.all([this.network.close(), this.identityNetwork.close()]);
  }
}

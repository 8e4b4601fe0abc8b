import { now } from '../timing/clock';
import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import { toClientCredentialsError } from '../errors/to-client-credentials-error';
import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';
import { AuthorityNetworkClient } from '../authority/msal-network';
import { checkIssued } from '../authority/token-response';
import { CredentialTenants } from './credential-tenants';
import {
  NO_PROXY,
  type CredentialSettings,
  type ResolvedCredential,
} from '../options/resolved-options';
import { DpopKey } from '../authority/dpop-key';
import { EVERY_TENANT, SourceSkips } from './source-skips';
import { createSourceClient, type SourceContext } from './create-source';
import type { AgentLeg, TokenMetrics } from '../observability/token-metrics';
import type { SourceClient } from '../authority/source-client';
import type { ClientCertificate } from '../authority/client-certificate';
import type { CredentialStats } from '../observability/credential-stats';
import type { Fetched } from './principal';
import { AgentDirectory } from './agents/agent-directory';
import type { Blueprint, ChainRequest } from './agents/blueprint';

/** A problem that starts with the option it is about (`pinFile: …`, `tokenRequest.audience: …`). */
const FIELD_FIRST = /^[A-Za-z_$][\w$]*(?:\.[\w$]+|\[\d+\])*: /;

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
  'signer_failed',
  'source_unavailable',
]);

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
 * per source, tried in order. A source that is unavailable or rejected is skipped for a
 * cool-down (its reason logged once and kept in `stats.skippedSources`), then tried again.
 *
 * A multi-tenant app asks for tokens of several tenants with one credential: what one tenant
 * says (a rejection, a failure) is kept for that tenant only, so that a customer that has not
 * consented neither skips a source for the others nor marks the credential as failing.
 */
export class Credential implements Blueprint {
  private readonly network: AuthorityNetworkClient;
  private readonly identityNetwork: AuthorityNetworkClient;
  private readonly clients: SourceClient[];
  /** Sources of the chain being passed over, per tenant or for every tenant. */
  private readonly skips: SourceSkips;
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
  /** Why the configured DPoP key cannot be used, reported by {@link init}. */
  readonly #dpopProblem?: string;

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
      tokensOf,
      dpop: this.dpop,
    };
    this.clients = sources.map((s, i) => createSourceClient(s, i, context));
    // Known from the environment at once: health shows where tokens will come from before any.
    const host = this.clients.map(managedIdentityHost).find((h) => h !== undefined);
    if (host !== undefined) this.stats.managedIdentityHost = host;
    this.tenants = new CredentialTenants(
      options,
      sources.some((s) => s.type === 'managed-identity'),
    );
    this.skips = new SourceSkips(
      options.name,
      this.tenants.home,
      timings.sourceCoolDownMs,
      (i) => this.sourceId(i),
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
        // `field: …` is joined to the path; a problem that names no field follows it.
        return (await c.source.init()).map((p) =>
          FIELD_FIRST.test(p) ? `sources[${i}].${p}` : `sources[${i}]: ${p}`,
        );
      }),
    );
    this.noteCertificates();
    return [...(this.#dpopProblem === undefined ? [] : [this.#dpopProblem]), ...problems.flat()];
  }

  /**
   * Store keys of a token, one per source, in source order. They name the authority, tenant,
   * client, credential and source, and scopes, and carry no secret. The credential's name is in
   * them so that two credentials of one app (say, a right and a wrong secret) never share tokens;
   * replicas, which share their configuration, do.
   */
  storeKeys(tenantId: string, scopeKey: string, certificateThumbprint?: string): string[] {
    const { authorityHost, clientId, name, tokenRequest } = this.options;
    // Tokens asked with other fixed parameters (another `audience`) are other tokens.
    const extras = tokenRequest === undefined ? '' : `~${tokenRequest.digest}`;
    // A bound token is of use only with its key or certificate: replicas with a key of their own
    // never adopt each other's, those sharing one (a configured `privateKey`, the same
    // certificate) share its tokens, and a rotated certificate has tokens of its own. A token
    // just issued is stored under the certificate it is bound to (`certificateThumbprint`).
    return this.clients.map((c, i) => {
      const x5t = certificateThumbprint ?? this.boundThumbprint(i);
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
    return (this.clients[index].source as { certificateThumbprint?: string }).certificateThumbprint;
  }

  /** The certificate of this thumbprint among its sources', current or rotated out lately. */
  boundCertificate(thumbprint: string): ClientCertificate | undefined {
    for (const c of this.clients) {
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
      const fetched = await this.fetchFromChain(tenantId, tenant, scopes, request);
      if (agent === undefined) {
        this.tenants.checkConfigured(fetched.issued.token);
        this.recordSuccess(tenantId, fetched.issued.expiresOn, fetched.issued.token);
      } else {
        this.metrics.success(this.name, fetched.issued.expiresOn, undefined, agent);
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
      );
      throw error;
    }
  }

  /**
   * Records a token of `tenantId` obtained or adopted from the store (another replica's): for
   * health and readiness, it counts as this credential working in that tenant.
   */
  recordSuccess(tenantId: string, expiresOn: number, token: string): void {
    this.tenants.learnFrom(token);
    this.metrics.success(this.name, expiresOn, this.otherTenant(tenantId));
  }

  private async fetchFromChain(
    tenantId: string,
    tenant: string,
    scopes: readonly string[],
    { claims, refused, fmiPath }: ChainRequest,
  ): Promise<Fetched> {
    const leg: AgentLeg | undefined = fmiPath === undefined ? undefined : 'exchange';
    const time = now();
    let order = this.clients.map((_, i) => i).filter((i) => this.skips.until(i, tenant) <= time);
    // Every source is cooling down: trying them all beats failing without a try.
    if (order.length === 0) order = this.clients.map((_, i) => i);
    let last: ClientCredentialsError | undefined;
    for (const [position, index] of order.entries()) {
      const client = this.clients[index];
      const host = managedIdentityHost(client);
      const started = now();
      // The issued token's times are the wall clock's (the authority's expiry): checked against it.
      const requestedAt = Date.now();
      const where = { credential: this.name, tenantId, agent: fmiPath };
      const request = async () => {
        try {
          const answer = await client.acquire({
            tenantId,
            scopes,
            correlationId: randomUUID(),
            claims,
            refused,
            fmiPath,
          });
          return checkIssued(answer, requestedAt);
        } catch (e) {
          throw toClientCredentialsError(e, where, this.timings.maxRetryAfterMs);
        }
      };
      const span = { credential: this.name, source: client.source.id, tenantId, leg };
      try {
        const issued = await this.metrics.tracing.request(
          host === undefined ? span : { ...span, managedIdentityHost: host },
          request,
        );
        const ms = now() - started;
        this.metrics.request(this.name, client.source.id, 'ok', ms, host, leg);
        this.noteCertificates();
        this.skips.worksAgain(index, tenant);
        return { issued, index };
      } catch (e) {
        last = e as ClientCredentialsError;
        // An assertion the authority refused is not handed out again (a signer's are reused).
        if (last.code === 'credential_rejected') {
          (client.source as { rejected?: () => void }).rejected?.();
        }
        const ms = now() - started;
        this.metrics.request(this.name, client.source.id, last.code, ms, host, leg);
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
    return tenant === this.tenants.home ? undefined : tenant;
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
    await Promise.all(
      this.clients.map(async (c) => {
        (c as { release?: () => void }).release?.();
        await (c.source as { release?: () => Promise<void> | void }).release?.();
      }),
    );
    await Promise.all([this.network.close(), this.identityNetwork.close()]);
  }
}

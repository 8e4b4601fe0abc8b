import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { ClientCredentialsError } from './errors/client-credentials.errors';
import { toClientCredentialsError } from './errors/to-client-credentials-error';
import { AuthorityNetworkClient } from './network-client';
import type { ResolvedCredential } from './options.validation';
import { createSourceClient } from './sources/create-source';
import type { IssuedToken, SourceClient } from './token-client';
import type { CredentialStats, TokenMetrics } from './token-metrics';

/** Errors after which the next source of the chain is tried. */
const NEXT_SOURCE_CODES: ReadonlySet<string> = new Set([
  'credential_rejected',
  'assertion_failed',
  'source_unavailable',
]);

/** Why a source of the chain is being passed over, and until when. */
export interface SkippedSource {
  readonly until: number;
  readonly reason: string;
  readonly skips: number;
}

/** Timing settings of a credential. */
export interface CredentialTimings {
  requestMs: number;
  managedIdentityMs: number;
  sourceCoolDownMs: number;
}

/**
 * A named credential at run time: its authority, its network clients and one msal application
 * per source, tried in order. A source that is unavailable or rejected is skipped for a
 * cool-down (its reason logged once and kept in `stats.skippedSources`), then tried again.
 */
export class Credential {
  private readonly network: AuthorityNetworkClient;
  private readonly identityNetwork: AuthorityNetworkClient;
  private readonly clients: SourceClient[];
  private readonly skipped = new Map<number, SkippedSource>();
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
    this.network = new AuthorityNetworkClient(timings.requestMs, options.ca);
    this.identityNetwork = new AuthorityNetworkClient(timings.managedIdentityMs, options.ca);
    const context = {
      credential: options,
      network: this.network,
      identityNetwork: this.identityNetwork,
      logger,
    };
    this.clients = sources.map((s, i) => createSourceClient(s, i, context));
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
          this.skip(i, `${reason} (at start-up)`);
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
   * One token request per source, in order, skipping sources in their cool-down, until one
   * succeeds or a failure is not about the source (an outage is not a reason to change identity).
   */
  async fetch(
    tenantId: string,
    scopes: readonly string[],
  ): Promise<{ issued: IssuedToken; index: number }> {
    const now = Date.now();
    let order = this.clients
      .map((_, i) => i)
      .filter((i) => (this.skipped.get(i)?.until ?? 0) <= now);
    // Every source is cooling down: trying them all beats failing without a try.
    if (order.length === 0) order = this.clients.map((_, i) => i);
    let last: ClientCredentialsError | undefined;
    for (const [position, index] of order.entries()) {
      const client = this.clients[index];
      const started = Date.now();
      try {
        const issued = await client.acquire(tenantId, scopes, randomUUID());
        this.metrics.request(this.name, client.source.id, 'ok', Date.now() - started);
        this.stats.lastTokenExpiresOn = new Date(issued.expiresOn);
        this.noteCertificates();
        if (this.skipped.delete(index)) {
          this.logger.log?.(`Credential '${this.name}': source '${client.source.id}' works again.`);
          this.noteSkipped();
        }
        return { issued, index };
      } catch (e) {
        last = toClientCredentialsError(e, { credential: this.name, tenantId });
        this.metrics.request(this.name, client.source.id, last.code, Date.now() - started);
        const another = position + 1 < order.length;
        const moveOn = NEXT_SOURCE_CODES.has(last.code) || client.moveOnAfter?.has(last.code);
        if (!moveOn || this.clients.length === 1) throw last;
        this.skip(index, last.message);
        if (!another) throw last;
      }
    }
    throw last!;
  }

  /** Passes a source over for a cool-down that doubles with each skip; logs the first skip. */
  private skip(index: number, reason: string): void {
    const skips = (this.skipped.get(index)?.skips ?? 0) + 1;
    const coolDown = this.timings.sourceCoolDownMs * 2 ** Math.min(skips - 1, 5);
    this.skipped.set(index, { until: Date.now() + coolDown, reason, skips });
    this.noteSkipped();
    const after = coolDown < 1000 ? `${coolDown} ms` : `${Math.round(coolDown / 1000)} s`;
    const message = `Credential '${this.name}': source '${this.clients[index].source.id}' skipped, moving on to the next; tried again in ${after}. ${reason}`;
    if (skips === 1) this.logger.warn?.(message);
    else this.logger.debug?.(message);
  }

  private noteSkipped(): void {
    this.stats.skippedSources = Object.fromEntries(
      [...this.skipped].map(([i, s]) => [
        this.clients[i].source.id,
        { reason: s.reason, until: new Date(s.until) },
      ]),
    );
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
    for (const c of this.clients) (c as { release?: () => void }).release?.();
    await Promise.all([this.network.close(), this.identityNetwork.close()]);
  }
}

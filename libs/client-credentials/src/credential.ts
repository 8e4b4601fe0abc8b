import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { ClientCredentialsError } from './errors/client-credentials.errors';
import { toClientCredentialsError } from './errors/to-client-credentials-error';
import { AuthorityNetworkClient } from './network-client';
import type { ResolvedCredential } from './options.validation';
import { createSource } from './sources/create-source';
import { IssuedToken, TokenClient } from './token-client';
import type { CredentialStats, TokenMetrics } from './token-metrics';

/** Errors after which the next source of the chain is tried. */
const NEXT_SOURCE_CODES: ReadonlySet<string> = new Set(['credential_rejected', 'assertion_failed']);

/**
 * A named credential at run time: its authority, its network client and one msal application
 * per source, tried in order.
 */
export class Credential {
  private readonly network: AuthorityNetworkClient;
  private readonly clients: TokenClient[];
  /** Live counters of this credential. */
  readonly stats: CredentialStats;

  /** The credential's settings, without its sources (they hold secrets). */
  readonly options: Omit<ResolvedCredential, 'sources'>;

  constructor(
    resolved: ResolvedCredential,
    requestTimeoutMs: number,
    private readonly keyPrefix: string,
    private readonly metrics: TokenMetrics,
    logger: LoggerService,
  ) {
    const { sources, ...options } = resolved;
    this.options = options;
    this.stats = metrics.of(options.name);
    this.network = new AuthorityNetworkClient(requestTimeoutMs, options.ca);
    this.clients = sources.map(
      (s, i) => new TokenClient(options, createSource(s, i), this.network, logger),
    );
  }

  get name(): string {
    return this.options.name;
  }

  /** Loads the sources' files and keys; returns problems as `sources[i].field: …`. */
  async init(): Promise<string[]> {
    const problems = await Promise.all(
      this.clients.map(async (c, i) => (await c.source.init()).map((p) => `sources[${i}].${p}`)),
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

  /** One token request per source until one succeeds or a failure is not about the credential. */
  async fetch(
    tenantId: string,
    scopes: readonly string[],
  ): Promise<{ issued: IssuedToken; index: number }> {
    let last: ClientCredentialsError | undefined;
    for (let index = 0; index < this.clients.length; index++) {
      const client = this.clients[index];
      const started = Date.now();
      try {
        const issued = await client.acquire(tenantId, scopes, randomUUID());
        this.metrics.request(this.name, client.source.id, 'ok', Date.now() - started);
        this.stats.lastTokenExpiresOn = new Date(issued.expiresOn);
        this.noteCertificates();
        return { issued, index };
      } catch (e) {
        last = toClientCredentialsError(e, { credential: this.name, tenantId });
        this.metrics.request(this.name, client.source.id, last.code, Date.now() - started);
        if (!NEXT_SOURCE_CODES.has(last.code)) throw last;
      }
    }
    throw last!;
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
    await this.network.close();
  }
}

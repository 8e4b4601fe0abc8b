import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';
import type { SourceClient } from '../authority/source-client';
import { checkIssued } from '../authority/token-response';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import { toClientCredentialsError } from '../errors/to-client-credentials-error';
import type { CredentialStats, RecordedProblem } from '../observability/credential-stats';
import type { AgentLeg, TokenMetrics } from '../observability/token-metrics';
import { now } from '../timing/clock';
import type { ChainRequest } from './agents/blueprint';
import { noteSent, type SentCredential } from './assertion-reuse';
import type { Fetched } from './principal';
import { EVERY_TENANT, SourceSkips } from './source-skips';

/** A problem that starts with the option it is about (`pinFile: …`, `tokenRequest.audience: …`). */
const FIELD_FIRST = /^[A-Za-z_$][\w$]*(?:\.[\w$]+|\[\d+\])*: /;

/** The managed identity host behind a source (itself, or the identity of its assertion). */
export function managedIdentityHost(client: SourceClient): ManagedIdentityHost | undefined {
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

/** A source that reuses what it sends, or keeps a certificate it may read again (a signer's). */
interface RejectableSource {
  /** The authority refused `sent`: true when one fresh request at once may be accepted. */
  rejected?(sent: SentCredential, error: ClientCredentialsError): Promise<boolean> | boolean;
}

/** Who the chain belongs to, and its timings. */
export interface ChainSettings {
  /** The credential's name. */
  readonly name: string;
  /** Its home tenant, lower case. */
  readonly home: string;
  readonly sourceCoolDownMs: number;
  /** The longest Retry-After honoured: an error says no more. */
  readonly maxRetryAfterMs: number;
}

/**
 * A credential's sources in order, and which of them to try: one that is unavailable or rejected
 * is skipped for a cool-down (its reason logged once and kept in `stats.skippedSources`), then
 * tried again. A rejection is one tenant's word; a missing file or endpoint holds for every tenant.
 */
export class SourceChain {
  /** Sources of the chain being passed over, per tenant or for every tenant. */
  private readonly skips: SourceSkips;
  /** The problem reported of each source that has one (by index): each is logged once. */
  private readonly problems = new Map<number, RecordedProblem>();

  constructor(
    /** The msal application (or managed identity client) of each source, in order. */
    readonly clients: readonly SourceClient[],
    private readonly settings: ChainSettings,
    private readonly stats: CredentialStats,
    private readonly metrics: TokenMetrics,
    private readonly logger: LoggerService,
  ) {
    this.skips = new SourceSkips(
      settings.name,
      settings.home,
      settings.sourceCoolDownMs,
      (i) => this.sourceId(i),
      stats,
      metrics,
      logger,
    );
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
    this.noteSources();
    return problems.flat();
  }

  /**
   * One token request per source, in order, skipping sources in their cool-down, until one
   * succeeds or a failure is not about the source (an outage is not a reason to change identity).
   * `tenant` is `tenantId` in lower case, as skips are kept.
   */
  async fetch(
    tenantId: string,
    tenant: string,
    scopes: readonly string[],
    { claims, refused, fmiPath }: ChainRequest,
  ): Promise<Fetched> {
    const { name } = this.settings;
    const leg: AgentLeg | undefined = fmiPath === undefined ? undefined : 'exchange';
    const time = now();
    let order = this.clients.map((_, i) => i).filter((i) => this.skips.until(i, tenant) <= time);
    // Every source is cooling down: trying them all beats failing without a try.
    if (order.length === 0) order = this.clients.map((_, i) => i);
    let last: ClientCredentialsError | undefined;
    let retried = false;
    for (let position = 0; position < order.length; position++) {
      const index = order[position];
      const client = this.clients[index];
      const host = managedIdentityHost(client);
      const started = now();
      // The issued token's times are the wall clock's (the authority's expiry): checked against it.
      const requestedAt = Date.now();
      const where = { credential: name, tenantId, agent: fmiPath };
      const sent: SentCredential = { reused: false };
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
          throw toClientCredentialsError(e, where, this.settings.maxRetryAfterMs);
        }
      };
      const span = { credential: name, source: client.source.id, tenantId, leg };
      try {
        const issued = await this.metrics.tracing.request(
          host === undefined ? span : { ...span, managedIdentityHost: host },
          () => noteSent(sent, request),
        );
        const ms = now() - started;
        this.metrics.request(name, client.source.id, 'ok', ms, host, leg);
        this.noteSources();
        this.skips.worksAgain(index, tenant);
        return { issued, index };
      } catch (e) {
        last = e as ClientCredentialsError;
        // An assertion the authority refused is not handed out again (a signer's are reused); one
        // that was reused, or named a certificate since renewed, is followed at once by one fresh
        // request of the same source before the caller sees the rejection or the source is skipped.
        const again =
          last.code === 'credential_rejected' &&
          (await (client.source as RejectableSource).rejected?.(sent, last)) === true;
        const ms = now() - started;
        this.metrics.request(name, client.source.id, last.code, ms, host, leg);
        this.noteSources();
        if (again && !retried) {
          retried = true;
          position--;
          continue;
        }
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

  /** The id of source `index` (`secret#0`). */
  sourceId(index: number): string {
    return this.clients[index].source.id;
  }

  /**
   * Records the earliest certificate expiry of the sources, for health reports, and the problems
   * of sources that still work (a replaced certificate file that cannot be loaded): each logged
   * once as a warning, kept in `stats.sourceProblems` until it is over.
   */
  private noteSources(): void {
    const dates = this.clients
      .map((c) => (c.source as { notAfter?: Date }).notAfter)
      .filter((d): d is Date => d instanceof Date);
    this.stats.certificateNotAfter =
      dates.length === 0 ? undefined : new Date(Math.min(...dates.map((d) => d.getTime())));
    let changed = false;
    this.clients.forEach((c, i) => {
      const problem = (c.source as { problem?: RecordedProblem }).problem;
      const before = this.problems.get(i);
      if (problem === before) return;
      changed = true;
      const where = `Credential '${this.settings.name}': source '${c.source.id}'`;
      if (problem !== undefined) {
        this.problems.set(i, problem);
        this.logger.warn?.(`${where}: ${problem.reason}.`);
      } else {
        this.problems.delete(i);
        const since = before!.since.toISOString();
        this.logger.log?.(
          `${where} is usable again (the problem reported since ${since} is over).`,
        );
      }
    });
    if (!changed) return;
    const entries = [...this.problems].map(([i, p]) => [this.sourceId(i), { ...p }] as const);
    this.stats.sourceProblems = entries.length === 0 ? undefined : Object.fromEntries(entries);
  }

  /** Releases the sources' clients and files. */
  async close(): Promise<void> {
    await Promise.all(
      this.clients.map(async (c) => {
        (c as { release?: () => void }).release?.();
        await (c.source as { release?: () => Promise<void> | void }).release?.();
      }),
    );
  }
}

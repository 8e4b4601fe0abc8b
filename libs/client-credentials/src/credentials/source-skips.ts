import { now, toWallClock } from '../timing/clock';
import type { LoggerService } from '@nestjs/common';
import type { TokenMetrics } from '../observability/token-metrics';
import type { CredentialStats } from '../observability/credential-stats';

/** Why a source of the chain is being passed over, and until when. */
export interface SkippedSource {
  readonly until: number;
  readonly reason: string;
  readonly skips: number;
}

/** The skips of a source that cannot be used at all, whatever the tenant (a missing file). */
export const EVERY_TENANT = '';

/**
 * The sources of a credential's chain being passed over: for one tenant (it rejected the source:
 * that tenant has not consented, say) or for every tenant (a missing file, no managed identity
 * endpoint), each for a cool-down that doubles per skip. Kept in the stats, logged once.
 */
export class SourceSkips {
  /** Skips by tenant (lower case), {@link EVERY_TENANT} for a source unusable in any tenant. */
  private readonly skipped = new Map<string, Map<number, SkippedSource>>();

  constructor(
    private readonly credential: string,
    private readonly home: string,
    private readonly coolDownMs: number,
    private readonly sourceId: (index: number) => string,
    private readonly stats: CredentialStats,
    private readonly metrics: TokenMetrics,
    private readonly logger: LoggerService,
  ) {}

  /** Until when source `index` is passed over for `tenant` (0 if it is not). */
  until(index: number, tenant: string): number {
    return Math.max(
      this.skipped.get(EVERY_TENANT)?.get(index)?.until ?? 0,
      this.skipped.get(tenant)?.get(index)?.until ?? 0,
    );
  }

  /** A source that just worked for `tenant` is no longer skipped there, nor for every tenant. */
  worksAgain(index: number, tenant: string): void {
    let was = false;
    for (const scope of [EVERY_TENANT, tenant]) {
      const skips = this.skipped.get(scope);
      if (skips?.delete(index)) was = true;
      if (skips?.size === 0) this.skipped.delete(scope);
    }
    if (was) {
      const source = this.sourceId(index);
      this.logger.log?.(`Credential '${this.credential}': source '${source}' works again.`);
      this.note();
      const { events } = this.metrics;
      if (events.wants('source-restored')) {
        const at = new Date();
        events.emit({
          type: 'source-restored',
          at,
          credential: this.credential,
          source,
          tenantId: tenant,
        });
      }
    }
  }

  /**
   * Passes a source over, for `tenant` or {@link EVERY_TENANT}, for a cool-down that doubles with
   * each skip; logs the first skip.
   */
  skip(index: number, tenant: string, reason: string): void {
    const time = now();
    this.forgetExpired(time);
    let skips = this.skipped.get(tenant);
    if (skips === undefined) this.skipped.set(tenant, (skips = new Map<number, SkippedSource>()));
    const count = (skips.get(index)?.skips ?? 0) + 1;
    const coolDown = this.coolDownMs * 2 ** Math.min(count - 1, 5);
    skips.set(index, { until: time + coolDown, reason, skips: count });
    this.note();
    const after = coolDown < 1000 ? `${coolDown} ms` : `${Math.round(coolDown / 1000)} s`;
    const scope = tenant === EVERY_TENANT || tenant === this.home ? '' : ` for tenant ${tenant}`;
    const message = `Credential '${this.credential}': source '${this.sourceId(index)}' skipped${scope}, moving on to the next; tried again in ${after}. ${reason}`;
    if (count === 1) this.logger.warn?.(message);
    else this.logger.debug?.(message);
    const { events } = this.metrics;
    if (events.wants('source-skipped')) {
      events.emit({
        type: 'source-skipped',
        at: new Date(),
        credential: this.credential,
        source: this.sourceId(index),
        ...(tenant === EVERY_TENANT ? {} : { tenantId: tenant }),
        reason,
        skips: count,
        until: new Date(toWallClock(time + coolDown)),
      });
    }
  }

  /**
   * Drops the skips of other tenants that ended long ago (a tenant asked for once must not be
   * remembered for ever); a recent one is kept, as its count doubles the next cool-down.
   */
  private forgetExpired(time: number): void {
    const horizon = time - this.coolDownMs * 2 ** 6;
    for (const [tenant, skips] of this.skipped) {
      if (tenant === EVERY_TENANT || tenant === this.home) continue;
      for (const [index, s] of skips) if (s.until < horizon) skips.delete(index);
      if (skips.size === 0) this.skipped.delete(tenant);
    }
  }

  /**
   * Shows the skips in the stats: those of every tenant and of the home tenant in
   * `skippedSources`, those of another tenant in `tenants[tenant].skippedSources`.
   */
  private note(): void {
    const shown = (skips: Map<number, SkippedSource> | undefined) =>
      [...(skips ?? [])].map(
        ([i, s]) =>
          [this.sourceId(i), { reason: s.reason, until: new Date(toWallClock(s.until)) }] as const,
      );
    this.stats.skippedSources = Object.fromEntries([
      ...shown(this.skipped.get(this.home)),
      ...shown(this.skipped.get(EVERY_TENANT)),
    ]);
    for (const [tenant, t] of Object.entries(this.stats.tenants ?? {})) {
      if (t.skippedSources !== undefined && !this.skipped.has(tenant)) delete t.skippedSources;
    }
    for (const [tenant, skips] of this.skipped) {
      if (tenant === EVERY_TENANT || tenant === this.home) continue;
      this.metrics.tenant(this.credential, tenant).skippedSources = Object.fromEntries(
        shown(skips),
      );
    }
  }
}

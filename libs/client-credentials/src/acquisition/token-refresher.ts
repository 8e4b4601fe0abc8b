import { now, toWallClock } from '../timing/clock';
import type { LoggerService } from '@nestjs/common';
import { CONNECTIONS_PER_ORIGIN } from '../authority/authority-agents';
import { backoffDelay, honouredRetryAfter } from '../timing/backoff';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { TokenPolicy } from '../options/resolved-options';
import type { TokenAcquirer } from './token-acquirer';
import { RefreshSchedule } from '../cache/refresh-schedule';
import type { CachedEntry, TokenCache } from '../cache/token-cache';
import { eventTarget } from '../credentials/token-request';
import { eventError } from '../observability/token-events';
import { TokenMetrics } from '../observability/token-metrics';
import { RefreshHeld } from '../shared-cache/refresh-held';

/**
 * Background refreshes in flight at once, per service. Half the connections of an authority's
 * pool: a storm of tokens due together queues here, and a caller's miss, which does not, always
 * finds a free connection ahead of the queued refreshes.
 */
export const REFRESH_CONCURRENCY = CONNECTIONS_PER_ORIGIN / 2;

/** A refresh held for the shared cache is tried again after this, doubling per hold up to the max. */
const HOLD_FIRST_MS = 250;
const HOLD_MAX_MS = 2000;
/** Held refreshes woken by a recovery start within this. */
const WAKE_SPREAD_MS = 100;

/**
 * Where tokens are refreshed: in the background, from an entry's `refreshAt` on, while callers
 * keep getting the cached token. The schedule refreshes tokens that were used during their
 * lifetime (an unused one is left to expire); a cache hit past `refreshAt` starts one too.
 * Failures are retried with backoff and Retry-After until the token stops being served — never on
 * a caller. At most {@link REFRESH_CONCURRENCY} run at once; the rest wait their turn, oldest first.
 */
export class TokenRefresher {
  private closed = false;
  private running = 0;
  /** Refreshes (first attempts and retries) waiting for a free slot, in order. */
  private readonly queue: { entry: CachedEntry; failures: number }[] = [];
  private head = 0;
  /** A turn of the event loop is booked to start the next queued refresh. */
  private pumping = false;
  /** Every current entry's refresh point, or its next retry: one timer for all. */
  private readonly schedule = new RefreshSchedule<CachedEntry>((entry) => this.due(entry));
  /** Entries whose refresh failed and waits in the schedule for a retry: failures so far. */
  private readonly retrying = new Map<CachedEntry, number>();
  /**
   * Entries whose refresh waits for the shared cache to be usable again (`RefreshHeld`): times
   * held in a row (the next try's delay), and failures before.
   */
  private readonly holding = new Map<CachedEntry, { holds: number; failures: number }>();

  constructor(
    private readonly acquirer: TokenAcquirer,
    private readonly cache: TokenCache,
    private readonly options: TokenPolicy,
    private readonly logger: LoggerService,
    /** Where each attempt's outcome is told (event `refresh`) and traced (a root span). */
    private readonly metrics: TokenMetrics = new TokenMetrics(),
  ) {
    // Only the entry memory serves is scheduled: one evicted (or replaced) while its store write
    // was awaited would stay scheduled for nothing.
    acquirer.onCurrent = (entry) => {
      if (!this.closed && this.cache.isCurrent(entry)) this.schedule.set(entry, entry.refreshAt);
    };
    cache.onDue = (entry) => this.refresh(entry);
    cache.onForget = (entry) => {
      this.schedule.delete(entry);
      this.retrying.delete(entry);
      this.holding.delete(entry);
    };
  }

  /** Starts a background refresh of `entry` unless one runs already. Never throws, never awaits. */
  refresh(entry: CachedEntry): void {
    if (entry.refreshing || this.closed || !this.cache.isCurrent(entry)) return;
    entry.refreshing = true;
    this.schedule.delete(entry);
    this.enqueue(entry, 0);
  }

  /**
   * The shared cache is usable again: every refresh held for it is tried now, spread over 100 ms
   * (the replicas, woken by the same recovery, then meet at the lock, and one fetches for all).
   */
  wake(): void {
    if (this.closed) return;
    for (const entry of this.holding.keys()) {
      this.schedule.set(entry, now() + Math.random() * WAKE_SPREAD_MS);
    }
  }

  close(): void {
    this.closed = true;
    this.schedule.close();
    this.retrying.clear();
    this.holding.clear();
    this.queue.length = 0;
    this.head = 0;
  }

  /** An entry's time came: its retry, or its refresh if it was used. */
  private due(entry: CachedEntry): void {
    const failures = this.retrying.get(entry);
    const held = this.holding.get(entry);
    if (failures !== undefined) {
      this.retrying.delete(entry);
      this.enqueue(entry, failures);
    } else if (held !== undefined) {
      this.enqueue(entry, held.failures);
    } else if (entry.hits > 0) {
      this.refresh(entry);
    }
  }

  private enqueue(entry: CachedEntry, failures: number): void {
    this.queue.push({ entry, failures });
    this.pump();
  }

  /**
   * Books the start of the next queued refresh, when a slot is free, on a turn of the event loop of
   * its own: msal's synchronous work to send a request (and, after a completion, its work on the
   * answer) then never runs in one stretch with another's, nor inside the cache hit that found its
   * token due — in a storm, callers wait at most one such slice.
   */
  private pump(): void {
    if (this.pumping || this.closed) return;
    if (this.running >= REFRESH_CONCURRENCY || this.head >= this.queue.length) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.startNext();
      this.pump();
    }).unref();
  }

  /** Starts the first queued refresh still served (those no longer served are dropped). */
  private startNext(): void {
    while (this.running < REFRESH_CONCURRENCY && this.head < this.queue.length && !this.closed) {
      const { entry, failures } = this.queue[this.head++];
      if (!this.cache.isCurrent(entry)) continue;
      this.running++;
      void this.attempt(entry, failures).finally(() => {
        this.running--;
        this.pump();
      });
      break;
    }
    // Compact once the consumed head is large: shift() per item would be quadratic in a storm.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private async attempt(entry: CachedEntry, failures: number): Promise<void> {
    const request = entry.request;
    const name = request.credential.name;
    const { events, tracing } = this.metrics;
    const span = {
      credential: name,
      tenantId: request.tenantId,
      leg: request.credential.agentLeg?.leg,
      previousFailures: failures,
    };
    try {
      const { entry: next, adopted } = await tracing.refresh(span, () =>
        this.acquirer.refreshed(entry),
      );
      this.holding.delete(entry);
      if (events.wants('refresh')) {
        events.emit({
          type: 'refresh',
          at: new Date(),
          ...eventTarget(request),
          outcome: adopted ? 'adopted' : 'refreshed',
          previousFailures: failures,
          expiresOn: next.hit.expiresOn,
        });
      }
      if (failures > 0) {
        this.logger.log?.(
          `Token of credential '${name}' refreshed after ${failures} failed attempt(s).`,
        );
      }
    } catch (e) {
      if (e instanceof RefreshHeld) return this.hold(entry, failures, e.until);
      this.holding.delete(entry);
      const error = e as ClientCredentialsError;
      if (this.closed || error.code === 'shutdown') return;
      // A backoff that would outlast the token is cut short: one more attempt halfway to the end
      // beats none (the endpoint may be back). A Retry-After is honoured as said.
      const left = entry.usableUntil - now();
      const backoff = backoffDelay(failures, this.options.retry, error.retryAfterMs);
      const retryAfter = honouredRetryAfter(error.retryAfterMs, this.options.retry);
      const delay = backoff < left || retryAfter >= left ? backoff : Math.max(left / 2, 0);
      const until = new Date(toWallClock(entry.usableUntil)).toISOString();
      const current = this.cache.isCurrent(entry);
      const retry = delay < left && left > 50 && current;
      const next = retry
        ? `Next attempt in ${Math.round(delay)} ms.`
        : current
          ? 'No time left to retry.'
          : 'No retry: memory no longer holds that token (replaced or evicted).';
      const message = `Background refresh of credential '${name}' failed (${error.code}); the cached token stays in use until ${until}. ${next} ${error.message}`;
      // First failure of a streak as a warning, the rest quietly: an outage must not flood the logs.
      if (failures === 0 || !retry) this.logger.warn?.(message);
      else this.logger.debug?.(message);
      if (events.wants('refresh')) {
        events.emit({
          type: 'refresh',
          at: new Date(),
          ...eventTarget(request),
          outcome: 'failed',
          previousFailures: failures,
          error: eventError(error),
          servedUntil: new Date(toWallClock(entry.usableUntil)),
          willRetry: retry,
          ...(retry ? { retryAt: new Date(toWallClock(now() + delay)) } : {}),
        });
      }
      if (!retry) return;
      this.retrying.set(entry, failures + 1);
      this.schedule.set(entry, now() + delay);
    }
  }

  /**
   * Puts off the refresh of `entry` until the shared cache is usable: tried again after a short
   * delay that grows with each hold (250 ms to 2 s), or at once when the connection says it is
   * back ({@link wake}). Quietly: the token is served meanwhile, and nothing failed. Never later
   * than `until`, when the refresh stops waiting for Redis and fetches for itself: a grown delay
   * must not eat the time left to retry before the token's end of use.
   */
  private hold(entry: CachedEntry, failures: number, until: number): void {
    if (this.closed || !this.cache.isCurrent(entry)) return;
    const holds = (this.holding.get(entry)?.holds ?? 0) + 1;
    this.holding.set(entry, { holds, failures });
    const delay = Math.min(HOLD_FIRST_MS * 2 ** (holds - 1), HOLD_MAX_MS);
    this.schedule.set(entry, Math.min(now() + delay * (0.8 + Math.random() * 0.4), until));
  }
}

import type { LoggerService } from '@nestjs/common';
import type {
  EventError,
  TokenEventTarget,
  WarmUpEvent,
  WarmUpProgress,
  WarmUpStatus,
} from '../client-credentials.events';
import { ClientCredentialsError } from '../errors/client-credentials.errors';
import { eventError, type TokenEvents } from '../observability/token-events';
import type { ResolvedWarmUp, WarmUpTarget } from '../options/resolved-options';
import { backoffDelay, sleep, type BackoffPolicy } from '../timing/backoff';
import { now } from '../timing/clock';
import { after } from '../timing/timers';
import type { WarmUpCalls } from './warm-up-calls';

/**
 * The error `app.init()` fails with when a warm-up that it waits for ends without some tokens:
 * each named with its cause (the first five).
 */
export function warmUpFailed(event: WarmUpEvent): ClientCredentialsError {
  const named = event.failures.slice(0, 5).map((f) => {
    const agent = f.agent === undefined ? '' : `, agent ${f.agent}`;
    return `credential '${f.credential}' (tenant ${f.tenantId}, ${f.scopes.join(' ')}${agent}): ${f.error.code} — ${f.error.message}`;
  });
  const more = event.failures.length > 5 ? ` (and ${event.failures.length - 5} more)` : '';
  const first = event.failures[0];
  return new ClientCredentialsError(
    'warm_up_failed',
    `Warm-up: ${event.failures.length} of ${event.declared} token(s) not obtained${more}: ${named.join('; ')}`,
    { credential: first?.credential, tenantId: first?.tenantId },
    event.failures.every((f) => f.error.transient),
  );
}

/** Warm-up tokens asked for at once: a fleet of agents warms up without a storm. */
export const WARM_UP_CONCURRENCY = 8;

/** One declared token and where its warm-up is. */
interface Item {
  readonly target: WarmUpTarget;
  readonly described: TokenEventTarget;
  state: 'pending' | 'obtained' | 'failed';
  error?: EventError;
  /** Whether its failure may pass (retried on in the background), rather than given up for good. */
  mayPass: boolean;
  /** Requests failed so far: the backoff of its retries goes on from them. */
  attempts: number;
  /** The Retry-After of its last failure. */
  retryAfterMs?: number;
}

/**
 * Whether a failure may pass with time: the endpoint is down or slow (transient), or a source is
 * not there yet — a managed identity endpoint that does not answer at container start, an
 * identity not yet assigned to the node (aad-pod-identity: 10–40 s), a token file not yet written.
 * Anything else (a rejected secret, an unknown scope) ends the token's warm-up at once.
 */
function mayPass(error: ClientCredentialsError): boolean {
  return error.transient || error.code === 'source_unavailable';
}

/**
 * The warm-up (`warmUp` option): the declared tokens, obtained through the token service as a
 * caller would (so they are cached, stored and refreshed like any), at most
 * {@link WARM_UP_CONCURRENCY} at once. A failure that may pass is retried with the module's
 * backoff (and Retry-After) until `timeoutMs` from the start; past it, or on a failure no retry
 * helps, the token is given up on. Ends with a `warm-up` event and a log line.
 *
 * With `wait: 'background'`, `timeoutMs` only says when the warm-up is reported failed: the
 * tokens whose failure may pass are asked for again, with the same backoff capped at
 * `retry.maxDelayMs`, until they are obtained or the service shuts down — nothing else would ask
 * for them while readiness keeps callers away. Once all are in, the warm-up is `completed` after
 * all, with a second `warm-up` event.
 */
export class WarmUp {
  private readonly items: Item[];
  private readonly stop = new AbortController();
  private state: WarmUpStatus['state'] = 'pending';
  private started = 0;

  constructor(
    private readonly settings: ResolvedWarmUp,
    private readonly retry: BackoffPolicy,
    private readonly calls: WarmUpCalls,
    private readonly events: TokenEvents,
    private readonly logger: LoggerService,
  ) {
    this.items = settings.targets.map((target) => ({
      target,
      described: calls.describe(target),
      state: 'pending',
      mayPass: true,
      attempts: 0,
    }));
  }

  /**
   * Obtains every declared token, or gives up on some at `timeoutMs`; never rejects. In the
   * background mode, a failed warm-up goes on retrying what may pass after this resolves.
   */
  async run(): Promise<WarmUpEvent> {
    this.started = now();
    const bound = new AbortController();
    const onStop = () => bound.abort(this.stop.signal.reason);
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    const deadline = after(this.settings.timeoutMs, () =>
      bound.abort(new Error('warmUp.timeoutMs passed')),
    );
    try {
      await this.each(this.items, (item) => this.obtain(item, bound.signal));
    } finally {
      deadline.clear();
      this.stop.signal.removeEventListener('abort', onStop);
    }
    const ended = this.end();
    if (ended.outcome === 'failed' && this.settings.wait === 'background') {
      this.retryInBackground().catch((e: unknown) => {
        this.logger.error?.(`Warm-up: retrying stopped: ${(e as Error).message}`);
      });
    }
    return ended;
  }

  /**
   * Runs it at the end of `app.init()`: with `wait: 'init'`, waits for it and fails with
   * `warm_up_failed` when a token is not obtained; with `wait: 'background'`, lets it run on.
   */
  async start(): Promise<void> {
    const run = this.run();
    if (this.settings.wait === 'background') return;
    const ended = await run;
    if (ended.outcome === 'failed') throw warmUpFailed(ended);
  }

  /** Where it is now. */
  status(): WarmUpStatus {
    const credentials: Record<string, WarmUpProgress> = Object.create(null) as Record<
      string,
      WarmUpProgress
    >;
    for (const { described, state } of this.items) {
      const c = credentials[described.credential] ?? { declared: 0, obtained: 0, failed: 0 };
      credentials[described.credential] = {
        declared: c.declared + 1,
        obtained: c.obtained + (state === 'obtained' ? 1 : 0),
        failed: c.failed + (state === 'failed' ? 1 : 0),
      };
    }
    return {
      state: this.state,
      declared: this.items.length,
      obtained: this.items.filter((i) => i.state === 'obtained').length,
      credentials,
      failures: this.failures(),
    };
  }

  /** Stops trying (the service shuts down): what is pending is given up on. */
  close(): void {
    this.stop.abort(new Error('the token service is shutting down'));
  }

  /** Calls `work` on each of `items`, at most {@link WARM_UP_CONCURRENCY} at once. */
  private async each(items: readonly Item[], work: (item: Item) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < items.length) await work(items[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(WARM_UP_CONCURRENCY, items.length) }, worker));
  }

  /** Asks for `item`'s token until obtained, given up on, or `signal` ends the warm-up. */
  private async obtain(item: Item, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return this.giveUp(item);
      const failure = await this.attempt(item, signal);
      if (failure === undefined) return;
      // The deadline ended the wait: the failure before it, if any, says why.
      if (signal.aborted || !item.mayPass) return this.giveUp(item);
      const delay = backoffDelay(item.attempts - 1, this.retry, item.retryAfterMs);
      this.logger.debug?.(
        `Warm-up of credential '${item.described.credential}': ${failure.code}; trying again in ${Math.round(delay)} ms.`,
      );
      try {
        await sleep(delay, signal);
      } catch {
        return this.giveUp(item);
      }
    }
  }

  /**
   * One request for `item`'s token: obtained (undefined), or the failure, recorded on the item (a
   * wait `signal` aborted is no failure of the token's).
   */
  private async attempt(item: Item, signal: AbortSignal): Promise<EventError | undefined> {
    try {
      await this.calls.get(item.target, signal);
      item.state = 'obtained';
      item.error = undefined;
      return undefined;
    } catch (e) {
      const error = e as ClientCredentialsError;
      if (signal.aborted && error.code === 'aborted') return item.error ?? eventError(error);
      item.error = eventError(error);
      item.mayPass = mayPass(error);
      item.attempts++;
      item.retryAfterMs = error.retryAfterMs;
      return item.error;
    }
  }

  /**
   * The background mode past `timeoutMs`: rounds of one request for each token given up on whose
   * failure may pass, a backoff apart (capped at `retry.maxDelayMs`, at least a Retry-After),
   * until none is left or the service shuts down.
   */
  private async retryInBackground(): Promise<void> {
    const { signal } = this.stop;
    for (;;) {
      const due = this.items.filter((i) => i.state === 'failed' && i.mayPass);
      if (due.length === 0 || signal.aborted) break;
      const attempts = Math.min(...due.map((i) => i.attempts));
      const retryAfter = Math.max(0, ...due.map((i) => i.retryAfterMs ?? 0));
      try {
        await sleep(backoffDelay(Math.max(0, attempts - 1), this.retry, retryAfter), signal);
      } catch {
        return;
      }
      // Reported failed until obtained: the status counts it so while it is asked for again.
      await this.each(due, async (item) => {
        if ((await this.attempt(item, signal)) !== undefined) return;
        this.logger.log?.(
          `Warm-up: credential '${item.described.credential}' (tenant ${item.described.tenantId}) obtained its token after the warm-up was reported failed.`,
        );
      });
    }
    if (!signal.aborted && this.items.every((i) => i.state === 'obtained')) this.end();
  }

  private giveUp(item: Item): void {
    item.state = 'failed';
    item.error ??= {
      code: 'timeout',
      message: `No token within warmUp.timeoutMs (${this.settings.timeoutMs} ms).`,
      transient: true,
    };
  }

  private failures(): WarmUpEvent['failures'] {
    return this.items
      .filter((i) => i.state === 'failed')
      .map((i) => ({ ...i.described, error: i.error! }));
  }

  private end(): WarmUpEvent {
    const failures = this.failures();
    this.state = failures.length === 0 ? 'completed' : 'failed';
    const event: WarmUpEvent = {
      type: 'warm-up',
      at: new Date(),
      outcome: this.state,
      declared: this.items.length,
      obtained: this.items.length - failures.length,
      durationMs: Math.round(now() - this.started),
      failures,
    };
    if (failures.length === 0) {
      this.logger.log?.(`Warm-up: ${event.obtained} token(s) obtained in ${event.durationMs} ms.`);
    } else {
      const first = failures[0];
      this.logger.warn?.(
        `Warm-up: ${failures.length} of ${event.declared} token(s) not obtained in ${event.durationMs} ms; first: credential '${first.credential}', tenant ${first.tenantId}: ${first.error.message}`,
      );
    }
    if (this.events.wants('warm-up')) this.events.emit(event);
    return event;
  }
}

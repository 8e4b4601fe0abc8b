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

/** What the warm-up asks of the token service. */
export interface WarmUpCalls {
  /** A token for `target`, as a caller gets it (cache, single flight, store, authority). */
  get(target: WarmUpTarget, signal: AbortSignal): Promise<unknown>;
  /** Which token `target` is: its credential, tenant and scopes, resolved. */
  describe(target: WarmUpTarget): TokenEventTarget;
}

/** What a warm-up calls of the token service (a structure: no layer below imports the service). */
export interface WarmUpService {
  getAccessToken(
    scopes: string | readonly string[],
    options: { credential?: string; tenantId?: string; agent?: string; signal?: AbortSignal },
  ): Promise<unknown>;
  checkRequest(
    scopes: string | readonly string[],
    options: { credential?: string; tenantId?: string; agent?: string },
  ): void;
  tenantOf(credential?: string): string;
}

/**
 * The declared tokens that a call could not ask for (an unknown credential, a meta-tenant, a
 * scope Entra refuses, an agent of no blueprint), as `warmUp.tokens[i]: why`: checked at start.
 */
export function warmUpProblems(settings: ResolvedWarmUp, service: WarmUpService): string[] {
  return settings.targets.flatMap(({ declaredAt, scopes, ...call }) => {
    try {
      service.checkRequest(scopes, call);
      return [];
    } catch (e) {
      return [`${declaredAt}: ${(e as Error).message}`];
    }
  });
}

/** The warm-up's calls through `service`; `nameOf` names a credential (the default for none). */
export function warmUpCalls(
  service: WarmUpService,
  nameOf: (credential?: string) => string,
): WarmUpCalls {
  return {
    get: ({ scopes, declaredAt: _, ...call }, signal) =>
      service.getAccessToken(scopes, { ...call, signal }),
    describe: (t) => ({
      credential: nameOf(t.credential),
      tenantId: t.tenantId ?? service.tenantOf(t.credential),
      scopes: typeof t.scopes === 'string' ? [t.scopes] : [...t.scopes],
      ...(t.agent === undefined ? {} : { agent: t.agent }),
    }),
  };
}

/** One declared token and where its warm-up is. */
interface Item {
  readonly target: WarmUpTarget;
  readonly described: TokenEventTarget;
  state: 'pending' | 'obtained' | 'failed';
  error?: EventError;
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
    }));
  }

  /** Obtains every declared token, or gives up on some; never rejects. */
  async run(): Promise<WarmUpEvent> {
    this.started = now();
    const deadline = after(this.settings.timeoutMs, () =>
      this.stop.abort(new Error('warmUp.timeoutMs passed')),
    );
    let next = 0;
    const worker = async () => {
      while (next < this.items.length) await this.obtain(this.items[next++]);
    };
    try {
      await Promise.all(Array.from({ length: WARM_UP_CONCURRENCY }, worker));
    } finally {
      deadline.clear();
    }
    return this.end();
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

  private async obtain(item: Item): Promise<void> {
    const { signal } = this.stop;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) return this.giveUp(item);
      try {
        await this.calls.get(item.target, signal);
        item.state = 'obtained';
        return;
      } catch (e) {
        const error = e as ClientCredentialsError;
        // The deadline ended the wait: the failure before it, if any, says why.
        if (signal.aborted && error.code === 'aborted') return this.giveUp(item);
        item.error = eventError(error);
        const delay = backoffDelay(attempt, this.retry, error.retryAfterMs);
        if (!mayPass(error) || signal.aborted) return this.giveUp(item);
        this.logger.debug?.(
          `Warm-up of credential '${item.described.credential}': ${error.code}; trying again in ${Math.round(delay)} ms.`,
        );
        try {
          await sleep(delay, signal);
        } catch {
          return this.giveUp(item);
        }
      }
    }
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

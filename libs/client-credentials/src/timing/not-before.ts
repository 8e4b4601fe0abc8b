import { honouredRetryAfter, type BackoffPolicy } from './backoff';
import { now } from './clock';

/**
 * A service's "not before": how long it asked every caller to wait (a Retry-After), capped as the
 * core caps one (`retry.maxRetryAfterMs`). Kept by what calls the service — one per service, not
 * per token — so that while it holds no caller asks it again, whichever token it is for.
 */
export class NotBefore {
  /** Until when (library clock) the service is not to be called; 0 when it is. */
  #until = 0;
  #reason = '';

  constructor(private readonly policy: Pick<BackoffPolicy, 'maxRetryAfterMs'>) {}

  /**
   * The service asked to wait `retryAfterMs`, saying `reason`: none, 0 or a shorter wait leaves a
   * longer one as it is.
   */
  hold(retryAfterMs: number | undefined, reason: string): void {
    const until = now() + honouredRetryAfter(retryAfterMs, this.policy);
    if (until > this.#until) [this.#until, this.#reason] = [until, reason];
  }

  /** How long the service is still not to be called (ms), and what it said; undefined once it may be. */
  held(): { ms: number; reason: string } | undefined {
    const ms = this.#until - now();
    return ms > 0 ? { ms, reason: this.#reason } : undefined;
  }
}

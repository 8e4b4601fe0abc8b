import { now } from '../timing/clock';
import { backoffDelay, honouredRetryAfter, type BackoffPolicy } from '../timing/backoff';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';

/**
 * The longest a failed acquisition makes later callers of the same token fail fast (unless the
 * authority's Retry-After asks for longer): one request per token every few seconds is no storm.
 */
export const MAX_COOL_DOWN_MS = 5_000;

interface CoolDown {
  readonly until: number;
  readonly failures: number;
  readonly error: ClientCredentialsError;
}

/**
 * After a failed acquisition, callers of the same token get its error at once for a growing
 * while instead of storming the authority: a backoff capped at a few seconds, or the authority's
 * Retry-After (itself capped by `retry.maxRetryAfterMs`). Bounded to `maxEntries` tokens.
 */
export class CoolDowns {
  private readonly byKey = new Map<string, CoolDown>();

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly maxEntries: number,
  ) {}

  /** The error to fail fast with, while `key` is cooling down. */
  current(key: string): ClientCredentialsError | undefined {
    const cool = this.byKey.get(key);
    return cool !== undefined && now() < cool.until ? cool.error : undefined;
  }

  /** Records a failure of `key`; returns the error, for `throw coolDowns.start(…)`. */
  start(key: string, error: ClientCredentialsError): ClientCredentialsError {
    const failures = (this.byKey.get(key)?.failures ?? 0) + 1;
    // Short enough that callers recover within seconds of an outage's end.
    const backoff = Math.min(backoffDelay(failures - 1, this.policy), MAX_COOL_DOWN_MS);
    const until = now() + Math.max(backoff, honouredRetryAfter(error.retryAfterMs, this.policy));
    this.byKey.delete(key);
    this.byKey.set(key, { until, failures, error });
    if (this.byKey.size > this.maxEntries) {
      this.byKey.delete(this.byKey.keys().next().value as string);
    }
    return error;
  }

  /** When the cool-down of `key` ends (the library's clock), while it lasts. */
  until(key: string): number | undefined {
    const until = this.byKey.get(key)?.until;
    return until !== undefined && now() < until ? until : undefined;
  }

  /** A success ends the cool-down of `key`. */
  end(key: string): void {
    this.byKey.delete(key);
  }
}

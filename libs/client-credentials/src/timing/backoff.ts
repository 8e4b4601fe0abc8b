import { after, onAbort } from './timers';

/** The retry settings backoff reads. */
export interface BackoffPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
}

/**
 * How long a Retry-After is honoured: as said, up to `maxRetryAfterMs`. One answer of a
 * misbehaving proxy must not lock callers out for a day.
 */
export function honouredRetryAfter(
  retryAfterMs: number | undefined,
  policy: Pick<BackoffPolicy, 'maxRetryAfterMs'>,
): number {
  return Math.min(retryAfterMs ?? 0, policy.maxRetryAfterMs);
}

/**
 * Exponential backoff with full jitter (a random delay up to `initial · 2^attempt`, capped),
 * and never shorter than the (capped) Retry-After the authority asked for.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 30));
  const jittered = ceiling / 2 + Math.random() * (ceiling / 2);
  return Math.max(jittered, honouredRetryAfter(retryAfterMs, policy));
}

/** Resolves after `ms` (any delay: see {@link after}); rejects with `signal.reason` when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = after(ms, () => {
      stopListening?.();
      resolve();
    });
    const stopListening =
      signal &&
      onAbort(signal, () => {
        timer.clear();
        reject(signal.reason as Error);
      });
  });
}

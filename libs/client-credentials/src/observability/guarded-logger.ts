import type { LoggerService } from '@nestjs/common';

/** Logger context of the library. */
export const LOG_CONTEXT = 'ClientCredentials';

type LogMethod = (message: unknown, ...rest: unknown[]) => unknown;
const LEVELS = ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const;

function dropped(): void {
  // Dropped: logging must never change what the library does.
}

/**
 * The app's logger, safe to call from anywhere in the library. The library logs inside msal's
 * token pipeline (msal's own lines), from its refresh timer and from background promises: a
 * logger that throws there (its transport down, a message it cannot serialise) would fail the
 * token request, stop a failed refresh from being retried, or surface as an unhandled rejection
 * (an `async` logger whose promise rejects: Node ends the process on it by default). A line the
 * logger cannot take is dropped instead, whether it throws or rejects; levels the logger lacks
 * stay absent.
 */
export function guardedLogger(logger: LoggerService): LoggerService {
  const guarded: Partial<Record<(typeof LEVELS)[number], LogMethod>> = {};
  for (const level of LEVELS) {
    const method = logger[level] as LogMethod | undefined;
    if (typeof method !== 'function') continue;
    guarded[level] = (message, ...rest) => {
      try {
        const result = method.call(logger, message, ...rest);
        // LoggerService methods may return anything: a rejection is handled here, not by the process.
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
          (result as PromiseLike<unknown>).then(undefined, dropped);
        }
      } catch {
        dropped();
      }
    };
  }
  return guarded as LoggerService;
}

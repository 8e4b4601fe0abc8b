import type { Meter } from '@opentelemetry/api';

/** Instruments that record nothing: the meter of an app without @opentelemetry/api installed. */
const NOOP_METER = {
  createCounter: () => ({ add: () => undefined }),
  createHistogram: () => ({ record: () => undefined }),
  createObservableCounter: () => ({ addCallback: () => undefined }),
  createObservableGauge: () => ({ addCallback: () => undefined }),
} as unknown as Meter;

/**
 * The library's meter. @opentelemetry/api is an optional peer of the package: an app that does not
 * install it gets no-op instruments, and the plain counters of `getStats()` still work.
 */
export function loadMeter(): Meter {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only if present
    const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
    return api.metrics.getMeter('nest-client-credentials');
  } catch {
    return NOOP_METER;
  }
}

/** Defaults of the module options (documented on each field with `@default`). */
export const DEFAULTS = {
  authorityHost: 'https://login.microsoftonline.com',
  protocol: 'entra',
  cache: { maxEntries: 10_000, keyPrefix: 'client-credentials:' },
  refresh: { refreshAt: 0.5, jitter: 0.05, expirySkewSeconds: 120 },
  retry: {
    maxAttempts: 3,
    initialDelayMs: 200,
    maxDelayMs: 30_000,
    maxRetryAfterMs: 60_000,
    sourceCoolDownMs: 60_000,
  },
  timeouts: { requestMs: 10_000, acquireMs: 30_000, managedIdentityMs: 5_000 },
} as const;

/**
 * The earliest point of a token's life, as a fraction of it, at which it may be refreshed: an
 * authority's tiny `refresh_in` or a refresh setting near 0 must not make every hit a request.
 */
export const MIN_REFRESH_FRACTION = 0.1;

/** Tenants that name no directory: client credentials need a real one. */
export const META_TENANTS: ReadonlySet<string> = new Set(['common', 'organizations', 'consumers']);

/** The largest token response accepted from an authority (a real one is a few KiB). */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * The longest a failed acquisition makes later callers of the same token fail fast (unless the
 * authority's Retry-After asks for longer): one request per token every few seconds is no storm.
 */
export const MAX_COOL_DOWN_MS = 5_000;

/** Logger context of the library. */
export const LOG_CONTEXT = 'ClientCredentials';

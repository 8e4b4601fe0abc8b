/** Defaults of the module options (documented on each field with `@default`). */
export const DEFAULTS = {
  authorityHost: 'https://login.microsoftonline.com',
  protocol: 'entra',
  /** The scope of an agent identity blueprint's token exchange token (Entra Agent ID, leg 1). */
  tokenExchangeScope: 'api://AzureADTokenExchange/.default',
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

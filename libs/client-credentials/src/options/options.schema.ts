/* The module options' schema (a credential's is in credential.schema.ts); resolve-options.ts applies it and the defaults. */
import { z } from 'zod';
import { credentialSchema } from './credential.schema';
import { keyVaultProblems } from './signer-source.schema';
import { DEFAULTS, MIN_REFRESH_FRACTION } from './defaults';
import { sharedCacheSchema } from './shared-cache.schema';

const positiveInt = (max: number) =>
  z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(max, { error: `must be at most ${max}` });
const fraction = z
  .number({ error: 'must be a number' })
  .min(0, { error: 'must be between 0 and 1' })
  .max(1, { error: 'must be between 0 and 1' });

/** The zod schema of the module options: every message names how to fix the field. */
export const moduleOptionsSchema = z
  .strictObject({
    credentials: z
      .record(z.string(), credentialSchema, { error: 'must be an object of named credentials' })
      .refine((r) => Object.keys(r).length > 0, {
        error:
          'must name at least one credential, e.g. { default: { tenantId, clientId, sources } }',
      }),
    defaultCredential: z.string().optional(),
    cache: z
      .strictObject({
        store: z
          .custom(
            // A Keyv or a cache-manager 5 `caching()` has a `get` too, but no `stores`: it
            // would pass here and fail every token call later.
            (v) =>
              typeof v === 'object' &&
              v !== null &&
              typeof (v as { get?: unknown }).get === 'function' &&
              Array.isArray((v as { stores?: unknown }).stores),
            {
              error:
                'must be a cache-manager 6+ Cache (createCache({ stores: [new Keyv(…)] })), not a Keyv or a store itself',
            },
          )
          .optional(),
        maxEntries: positiveInt(10_000_000).optional(),
        keyPrefix: z.string().optional(),
        shared: sharedCacheSchema.optional(),
      })
      .refine((c) => c.store === undefined || c.shared === undefined, {
        error: 'takes `store` or `shared`, not both — `shared` builds its own Redis-backed store',
      })
      // Redis Cluster hashes the text between the first `{` and the next `}` of a name: each
      // shared-cache name tags its entry and lock with one digest (one slot); a brace in the
      // prefix would move the tag, and an entry and its lock would land in different slots.
      .refine((c) => c.shared === undefined || !/[{}]/.test(c.keyPrefix ?? ''), {
        path: ['keyPrefix'],
        error:
          "must not contain '{' or '}' with `shared` — Redis Cluster reads them as a hash tag, and the library tags each name itself",
      })
      .optional(),
    refresh: z
      .strictObject({
        refreshAt: fraction.optional(),
        jitter: z
          .number({ error: 'must be a number' })
          .min(0, { error: 'must be between 0 and 0.25' })
          .max(0.25, { error: 'must be between 0 and 0.25' })
          .optional(),
        expirySkewSeconds: z
          .number({ error: 'must be a number' })
          .min(0, { error: 'must be between 0 and 3600' })
          .max(3600, { error: 'must be between 0 and 3600' })
          .optional(),
      })
      .superRefine((r, ctx) => {
        // A refresh point at (or, with jitter, before) the start of a token's life would make
        // every cache hit start a token request.
        const at = r.refreshAt ?? DEFAULTS.refresh.refreshAt;
        const jitter = r.jitter ?? DEFAULTS.refresh.jitter;
        if (at - jitter < MIN_REFRESH_FRACTION) {
          ctx.addIssue({
            code: 'custom',
            path: [r.refreshAt === undefined ? 'jitter' : 'refreshAt'],
            message: `leaves refreshAt − jitter = ${+(at - jitter).toFixed(3)}: a token must be used for at least ${MIN_REFRESH_FRACTION} of its lifetime before it is refreshed — raise refreshAt (default ${DEFAULTS.refresh.refreshAt}) or lower jitter`,
          });
        }
      })
      .optional(),
    retry: z
      .strictObject({
        maxAttempts: positiveInt(10).optional(),
        initialDelayMs: positiveInt(60_000).optional(),
        maxDelayMs: positiveInt(600_000).optional(),
        maxRetryAfterMs: z
          .number({ error: 'must be a number' })
          .int({ error: 'must be a whole number' })
          .min(0, { error: 'must be between 0 and 60000' })
          .max(60_000, { error: 'must be between 0 and 60000 — a longer wait locks callers out' })
          .optional(),
        sourceCoolDownMs: positiveInt(86_400_000).optional(),
      })
      .superRefine((r, ctx) => {
        // The backoff is capped by maxDelayMs: a larger first delay would silently be the cap.
        const initial = r.initialDelayMs ?? DEFAULTS.retry.initialDelayMs;
        const max = r.maxDelayMs ?? DEFAULTS.retry.maxDelayMs;
        if (initial > max) {
          ctx.addIssue({
            code: 'custom',
            path: [r.initialDelayMs === undefined ? 'maxDelayMs' : 'initialDelayMs'],
            message: `leaves initialDelayMs (${initial}) above maxDelayMs (${max}): every delay would be ${max} ms — raise maxDelayMs or lower initialDelayMs`,
          });
        }
      })
      .optional(),
    timeouts: z
      .strictObject({
        requestMs: positiveInt(300_000).optional(),
        acquireMs: positiveInt(600_000).optional(),
        managedIdentityMs: positiveInt(300_000).optional(),
      })
      .optional(),
    logger: z.any().optional(),
  })
  .superRefine((o, ctx) => {
    const names = Object.keys(o.credentials ?? {});
    keyVaultProblems(o.credentials ?? {}).forEach((issue) => ctx.addIssue({ ...issue }));
    if (o.defaultCredential !== undefined && !names.includes(o.defaultCredential)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultCredential'],
        message: `'${o.defaultCredential}' is not a configured credential — use one of: ${names.join(', ')}`,
      });
    }
  });

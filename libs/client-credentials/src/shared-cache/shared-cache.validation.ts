import { z } from 'zod';
import { decodeKey, KEY_ID_PATTERN } from './token-cipher';
import { DEFAULTS } from '../client-credentials.constants';
import {
  ResolvedSharedCacheOptions,
  SHARED_CACHE_DEFAULTS,
  SharedCacheOptions,
  SharedCacheSecrets,
} from './shared-cache.options';

const ms = (min: number, max: number) =>
  z
    .number({ error: 'must be a number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const redisUrl = z.string().refine(
  (v) => {
    try {
      return ['redis:', 'rediss:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  { error: 'must be a redis:// or rediss:// URL, e.g. redis://localhost:6379' },
);

// The key's value is never echoed: messages say what is wrong, not what was given.
const encryptionKey = z.strictObject({
  id: z
    .string({ error: 'is required — a short name of the key, e.g. "k2025"' })
    .regex(KEY_ID_PATTERN, {
      error: 'must be 1–32 letters, digits, "_" or "-" (it is stored in clear)',
    }),
  key: z
    .string({ error: 'is required — 32 random bytes as base64 or hex (openssl rand -base64 32)' })
    .refine((v) => decodeKey(v) !== undefined, {
      error:
        'must be 32 bytes as base64 (44 characters) or hex (64 characters) — generate one with `openssl rand -base64 32`',
    }),
});

/** The zod schema of `cache.shared`. */
export const sharedCacheSchema = z
  .strictObject({
    redisUrl: redisUrl.optional(),
    redisClient: z
      .custom(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          typeof (v as { sendCommand?: unknown }).sendCommand === 'function',
        { error: 'must be a node-redis client (createClient from @keyv/redis or redis)' },
      )
      .optional(),
    encryptionKeys: z
      .array(encryptionKey, {
        error: 'is required — a list of { id, key }; the first one encrypts new entries',
      })
      .min(1, { error: 'must hold at least one { id, key }' })
      .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, {
        error: 'must not repeat a key id',
      }),
    operationTimeoutMs: ms(1, 60_000).optional(),
    connectTimeoutMs: ms(0, 60_000).optional(),
    crossProcessLock: z.boolean({ error: 'must be true or false' }).optional(),
    lockTtlMs: ms(100, 600_000).optional(),
    lockWaitMs: ms(0, 600_000).optional(),
    lockPollMs: ms(1, 10_000).optional(),
    errorLogIntervalMs: ms(0, 3_600_000).optional(),
  })
  .refine((o) => (o.redisUrl === undefined) !== (o.redisClient === undefined), {
    error: 'needs exactly one of `redisUrl` (e.g. redis://localhost:6379) or `redisClient`',
  });

/** The module's timeouts a lock waiter's default bound is derived from. */
export interface FlightTimeouts {
  /** `timeouts.acquireMs`: longest a holder keeps retrying. */
  readonly acquireMs: number;
  /** `timeouts.requestMs`: its last request may start just before that and take this long. */
  readonly requestMs: number;
}

/**
 * `cache.shared` with defaults applied and keys decoded; call after the schema passed. A field
 * given as `undefined` means its default (a spread would have copied the `undefined` over it).
 * `lockWaitMs` defaults to as long as a holder may take: `acquireMs + requestMs` of `timeouts`.
 */
export function resolveSharedCache(
  o: SharedCacheOptions,
  timeouts: FlightTimeouts = DEFAULTS.timeouts,
): ResolvedSharedCacheOptions {
  const d = SHARED_CACHE_DEFAULTS;
  return {
    redisClient: o.redisClient,
    secrets: new SharedCacheSecrets(
      o.redisUrl,
      o.encryptionKeys.map((k) => ({ id: k.id, key: decodeKey(k.key)! })),
    ),
    operationTimeoutMs: o.operationTimeoutMs ?? d.operationTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs ?? d.connectTimeoutMs,
    crossProcessLock: o.crossProcessLock ?? d.crossProcessLock,
    lockTtlMs: o.lockTtlMs ?? d.lockTtlMs,
    lockWaitMs: o.lockWaitMs ?? timeouts.acquireMs + timeouts.requestMs,
    lockPollMs: o.lockPollMs ?? d.lockPollMs,
    errorLogIntervalMs: o.errorLogIntervalMs ?? d.errorLogIntervalMs,
  };
}

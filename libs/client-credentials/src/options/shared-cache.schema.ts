import { z } from 'zod';
import type { SharedCacheOptions } from '../shared-cache.options';
import { DEFAULTS } from './defaults';
import {
  decodeKey,
  KEY_ID_PATTERN,
  SHARED_CACHE_DEFAULTS,
  SharedCacheSecrets,
  type ResolvedSharedCacheOptions,
} from './resolved-shared-cache';

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

// A node of a cluster or a sentinel: scheme, host and port only. Credentials go in
// `username` / `password`, which apply to every node the client discovers, not just these.
const nodeUrl = z.string().superRefine((v, ctx) => {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a URL like redis://10.0.0.4:6379' });
    return;
  }
  if (!['redis:', 'rediss:'].includes(url.protocol) || url.hostname === '') {
    ctx.addIssue({ code: 'custom', message: 'must be redis://host:port or rediss://host:port' });
  } else if (url.username !== '' || url.password !== '') {
    ctx.addIssue({
      code: 'custom',
      message: 'must not hold credentials — set `username` / `password` instead',
    });
  } else if (url.pathname !== '' && url.pathname !== '/') {
    ctx.addIssue({ code: 'custom', message: 'must not name a database (a cluster has only 0)' });
  }
});

const nodeList = z
  .array(nodeUrl, { error: 'is required — a list of redis://host:port URLs' })
  .min(1, { error: 'must hold at least one redis://host:port URL' })
  .refine((urls) => new Set(urls.map((u) => u.split(':')[0])).size <= 1, {
    error: 'must use one scheme for every node: all redis:// or all rediss:// (TLS)',
  });

const pem = z.string().refine((v) => v.includes('-----BEGIN '), {
  error: 'must be PEM text (-----BEGIN CERTIFICATE…) — pass the file contents, not a path',
});

/** Whether a `redisClient` is a node-redis client, cluster or sentinel (they all send commands). */
function isNodeRedis(v: unknown): boolean {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { sendCommand?: unknown }).sendCommand === 'function'
  );
}

const TOPOLOGIES = ['redisUrl', 'cluster', 'sentinel', 'redisClient'] as const;

/** The zod schema of `cache.shared`. */
export const sharedCacheSchema = z
  .strictObject({
    redisUrl: redisUrl.optional(),
    cluster: z
      .strictObject({ nodes: nodeList }, { error: 'must be { nodes: ["redis://host:port", …] }' })
      .optional(),
    sentinel: z
      .strictObject(
        {
          masterName: z
            .string({ error: 'is required — the name the sentinels monitor, e.g. "mymaster"' })
            .min(1, { error: 'must not be empty — the name the sentinels monitor' }),
          nodes: nodeList,
        },
        { error: 'must be { masterName, nodes: ["redis://host:26379", …] }' },
      )
      .optional(),
    redisClient: z
      .custom(isNodeRedis, {
        error: 'must be a node-redis client (createClient, createCluster or createSentinel)',
      })
      .optional(),
    username: z
      .string({ error: 'must be a string — the ACL user name' })
      .min(1, { error: 'must not be empty — leave it out for the default user' })
      .optional(),
    password: z
      .string({ error: 'must be a string' })
      .min(1, { error: 'must not be empty — leave it out when Redis needs no password' })
      .optional(),
    passwordProvider: z
      .custom((v) => typeof v === 'function', {
        error: 'must be a function returning the password (or a promise of it)',
      })
      .optional(),
    ca: z.union([pem, z.array(pem)]).optional(),
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
  .superRefine((o, ctx) => {
    const given = TOPOLOGIES.filter((t) => o[t] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          given.length === 0
            ? 'needs one of `redisUrl` (e.g. redis://localhost:6379), `cluster`, `sentinel` or `redisClient`'
            : `takes one of \`redisUrl\`, \`cluster\`, \`sentinel\` or \`redisClient\`, not ${given.map((g) => `\`${g}\``).join(' and ')}`,
      });
      return;
    }
    const problem = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.redisClient !== undefined) {
      for (const f of ['username', 'password', 'passwordProvider', 'ca'] as const) {
        if (o[f] !== undefined) {
          problem(f, 'is not used with `redisClient` — configure that client with it instead');
        }
      }
      return;
    }
    if (o.password !== undefined && o.passwordProvider !== undefined) {
      problem('passwordProvider', 'takes the place of `password` — set one of them');
    }
    const url = o.redisUrl === undefined ? undefined : safeUrl(o.redisUrl);
    if (url !== undefined && (url.username !== '' || url.password !== '')) {
      for (const f of ['username', 'password', 'passwordProvider'] as const) {
        if (o[f] !== undefined) {
          problem(f, 'the `redisUrl` holds credentials already — give them in one place only');
        }
      }
    }
    const first = o.redisUrl ?? o.cluster?.nodes[0] ?? o.sentinel?.nodes[0];
    if (o.ca !== undefined && first !== undefined && !first.startsWith('rediss:')) {
      problem('ca', 'is only used over TLS — use rediss:// URLs, or leave `ca` out');
    }
  });

function safeUrl(v: string): URL | undefined {
  try {
    return new URL(v);
  } catch {
    return undefined;
  }
}

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
    cluster: o.cluster && { nodes: [...o.cluster.nodes] },
    sentinel: o.sentinel && { masterName: o.sentinel.masterName, nodes: [...o.sentinel.nodes] },
    username: o.username,
    ca: o.ca === undefined ? [] : ([] as string[]).concat(o.ca),
    secrets: new SharedCacheSecrets(
      o.redisUrl,
      o.encryptionKeys.map((k) => ({ id: k.id, key: decodeKey(k.key)! })),
      o.password,
      o.passwordProvider,
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

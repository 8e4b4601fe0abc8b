import type {
  SharedCacheClusterOptions,
  SharedCacheOptions,
  SharedCacheSentinelOptions,
} from '../shared-cache.options';

/** A key id: written in clear into every entry, so it must be plain and short. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** 32 bytes from base64 (44 characters) or hex (64 characters), else undefined. */
export function decodeKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    return b.length === 32 ? b : undefined;
  }
  return undefined;
}

/** A decoded encryption key. */
export interface DecodedKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * The secrets of `cache.shared` after validation: the Redis URL (it may hold a password), the
 * password or its provider, and the decoded keys, in `#private` fields. The resolved options are kept by several services; a
 * property walk of any of them (`inspect` with `customInspect: false`, a serialiser) sees `{}`.
 */
export class SharedCacheSecrets {
  readonly #redisUrl?: string;
  readonly #keys: readonly DecodedKey[];
  readonly #password?: string;
  readonly #passwordProvider?: () => Promise<string> | string;

  constructor(
    redisUrl: string | undefined,
    keys: readonly DecodedKey[],
    password?: string,
    passwordProvider?: () => Promise<string> | string,
  ) {
    this.#redisUrl = redisUrl;
    this.#keys = keys;
    this.#password = password;
    this.#passwordProvider = passwordProvider;
  }

  /** The `redisUrl` option. */
  redisUrl(): string | undefined {
    return this.#redisUrl;
  }

  /** The `password` option. */
  password(): string | undefined {
    return this.#password;
  }

  /** The `passwordProvider` option. */
  passwordProvider(): (() => Promise<string> | string) | undefined {
    return this.#passwordProvider;
  }

  /** The decoded `encryptionKeys`; the first one writes. */
  encryptionKeys(): readonly DecodedKey[] {
    return this.#keys;
  }
}

/** {@link SharedCacheOptions} after validation, with defaults applied. */
export interface ResolvedSharedCacheOptions extends Required<
  Omit<SharedCacheOptions, TopologyField | CredentialField | 'ca' | 'encryptionKeys'>
> {
  readonly redisClient?: SharedCacheOptions['redisClient'];
  readonly cluster?: SharedCacheClusterOptions;
  readonly sentinel?: SharedCacheSentinelOptions;
  readonly username?: string;
  /** `ca` as a list, empty without one. */
  readonly ca: readonly string[];
  /** `redisUrl`, `password`, `passwordProvider` and the decoded `encryptionKeys`, out of reach of a property walk. */
  readonly secrets: SharedCacheSecrets;
}

type TopologyField = 'redisUrl' | 'cluster' | 'sentinel' | 'redisClient';
type CredentialField = 'username' | 'password' | 'passwordProvider';

/** Defaults of {@link SharedCacheOptions} (`lockWaitMs` is derived from `timeouts`). */
export const SHARED_CACHE_DEFAULTS = {
  operationTimeoutMs: 200,
  connectTimeoutMs: 2000,
  crossProcessLock: true,
  lockTtlMs: 3000,
  lockPollMs: 50,
  errorLogIntervalMs: 30_000,
} as const;

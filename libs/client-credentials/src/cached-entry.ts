import { AccessToken } from './access-token';
import type { Credential } from './credential';

/** Which token a caller asks for; `key` indexes it in memory. */
export interface TokenRequest {
  readonly key: string;
  readonly credential: Credential;
  readonly tenantId: string;
  readonly scopes: readonly string[];
  readonly scopeKey: string;
}

/** A token as written to the cache-manager store: plain JSON, shared by every replica. */
export interface StoredToken {
  readonly v: 1;
  readonly token: string;
  readonly tokenType: string;
  /** Epoch milliseconds. */
  readonly obtainedAt: number;
  readonly expiresOn: number;
  readonly refreshOn: number;
  readonly scopes: readonly string[];
  readonly tenantId: string;
  /** Id of the credential source that obtained it (`certificate#0`). */
  readonly source: string;
}

/**
 * A token held in process memory: the index the cache-hit path reads. It never outlives the
 * token (`usableUntil` is the expiry minus the skew), and is refreshed from `refreshAt` on.
 */
export class CachedEntry {
  /** The answer of a cache hit, built once. */
  readonly hit: AccessToken;
  /** Epoch ms until which the token is served. */
  readonly usableUntil: number;
  /** When the background refresh should start (never after the token stops being served). */
  readonly refreshAt: number;
  /**
   * Counted by every cache hit: a background refresh is only worth it for a token in use, and
   * eviction keeps entries hit since it last looked (`seenHits`).
   */
  hits = 0;
  /** `hits` when eviction last passed over this entry. */
  seenHits = 0;
  /** A background refresh of this entry is running or has given up. */
  refreshing = false;
  timer?: NodeJS.Timeout;

  /**
   * @param refreshDelayMs this process's own delay after the stored refresh point: replicas that
   * adopted one shared token must not all start refreshing it at the same instant.
   */
  constructor(
    readonly request: TokenRequest,
    readonly stored: StoredToken,
    skewMs: number,
    refreshDelayMs = 0,
  ) {
    const lifetime = stored.expiresOn - stored.obtainedAt;
    this.usableUntil = stored.expiresOn - Math.min(skewMs, lifetime / 4);
    this.refreshAt = Math.min(stored.refreshOn + refreshDelayMs, this.usableUntil);
    this.hit = new AccessToken(
      stored.token,
      stored.tokenType,
      new Date(stored.expiresOn),
      new Date(stored.refreshOn),
      stored.scopes,
      request.credential.name,
      'cache',
    );
  }

  get key(): string {
    return this.request.key;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Whether a value read from a store is a token this library wrote (anything else is a miss). */
export function isStoredToken(v: unknown): v is StoredToken {
  const s = v as StoredToken | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.v === 1 &&
    typeof s.token === 'string' &&
    s.token.length > 0 &&
    typeof s.tokenType === 'string' &&
    Number.isFinite(s.obtainedAt) &&
    Number.isFinite(s.expiresOn) &&
    Number.isFinite(s.refreshOn) &&
    s.expiresOn > s.obtainedAt &&
    Array.isArray(s.scopes) &&
    typeof s.tenantId === 'string' &&
    typeof s.source === 'string'
  );
}

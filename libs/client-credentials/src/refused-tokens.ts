import type { CachedEntry } from './cached-entry';

/** A token an API refused (401): never served again for its request key. */
interface RefusedToken {
  readonly token: string;
  /** When the refused token was obtained, if known: its replacement must be newer. */
  readonly obtainedAt?: number;
  /** After this, the refused token has expired and cannot come back from any store. */
  readonly until: number;
}

/**
 * Tokens that APIs refused (revoked, say), by request key: no store read — memory, Redis, another
 * replica's write — may answer with one of them again, nor with a token older than it. Bounded to
 * `maxEntries` keys, oldest first; a record goes once its token has expired anyway.
 */
export class RefusedTokens {
  private readonly byKey = new Map<string, RefusedToken>();

  constructor(private readonly maxEntries: number) {}

  /** Records `token` as refused for `key`; `known` is its entry when memory holds it. */
  add(key: string, token: string, known?: CachedEntry): void {
    const now = Date.now();
    this.byKey.delete(key);
    this.byKey.set(key, {
      token,
      obtainedAt: known?.stored.obtainedAt,
      // Unknown expiry: long enough for any access token (Entra's longest CAE tokens live 28 h).
      until: known?.stored.expiresOn ?? now + 28 * 3600_000,
    });
    for (const [k, r] of this.byKey) {
      if (this.byKey.size <= this.maxEntries && r.until > now) break;
      this.byKey.delete(k);
    }
  }

  /** `accept`, narrowed to entries that are neither a refused token of `key` nor older than it. */
  filter(
    key: string,
    accept?: (entry: CachedEntry) => boolean,
  ): ((entry: CachedEntry) => boolean) | undefined {
    const refused = this.byKey.get(key);
    if (refused === undefined) return accept;
    return (e) =>
      e.stored.token !== refused.token &&
      (refused.obtainedAt === undefined || e.stored.obtainedAt > refused.obtainedAt) &&
      (accept === undefined || accept(e));
  }
}

import { createHmac, hkdfSync } from 'node:crypto';

// Fixed context of the derivation: a naming key is useless for sealing, and vice versa.
const INFO = 'client-credentials/shared-cache/key-names/v1';

/** What a Redis name is for: a token entry, or the lock (and failure record) of a token. */
export type KeyKind = 't' | 'lock';

/**
 * Redis names of the shared cache: `<prefix><kind>:{<HMAC-SHA256 of the cache key>}`. The cache
 * key names authority, tenant, client, credential and scopes: guessable, so a plain hash would
 * let anyone who can list Redis test guesses. The HMAC key is derived (HKDF-SHA256) from each
 * encryption key and kept in a `#private` field. The digest is a Redis Cluster hash tag, so an
 * entry and the lock of the same cache key land in the same slot.
 *
 * New names use the first encryption key; reads also look under the names of the other keys, so
 * a rotation (new key first, old key kept) still finds the entries written before it.
 */
export class KeyNamer {
  readonly #prefix: string;
  readonly #keys: readonly Buffer[];

  constructor(prefix: string, keys: readonly { readonly key: Buffer }[]) {
    this.#prefix = prefix;
    this.#keys = keys.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), INFO, 32)));
  }

  /** The name new data of `key` is written under (first encryption key). */
  name(kind: KeyKind, key: string): string {
    return this.#nameWith(this.#keys[0], kind, key);
  }

  /** Every name `key` may be stored under, the current one first (one per encryption key). */
  candidates(kind: KeyKind, key: string): string[] {
    return this.#keys.map((k) => this.#nameWith(k, kind, key));
  }

  /**
   * The key the startup check reads (access-check.ts): under the prefix, so that it is among the
   * keys the user's ACL grants; never written.
   */
  probe(): string {
    return `${this.#prefix}probe`;
  }

  #nameWith(namingKey: Buffer, kind: KeyKind, key: string): string {
    const digest = createHmac('sha256', namingKey).update(key).digest('base64url');
    return `${this.#prefix}${kind}:{${digest}}`;
  }
}

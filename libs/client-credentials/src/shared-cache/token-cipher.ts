import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'e1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The longest sealed entry the library opens (characters). An entry is a token and a few fields,
 * sealed: about 4/3 of the token plus 200 characters. Entra ID tokens with many group claims reach
 * 10–16 KB (past 200 groups Entra sends an overage claim instead), so 128 KiB leaves room for any
 * real token eight times over, while a value of megabytes (written by whoever can write to Redis)
 * is refused before it is decoded or decrypted — work that would stall the event loop, and every
 * cache hit of the process with it, at each read.
 */
export const MAX_SEALED_LENGTH = 128 * 1024;

/** Why a sealed entry could not be opened. */
export type OpenFailure = 'unknown-key' | 'rejected';

/**
 * AES-256-GCM sealing of shared-cache entries: `e1.<key id>.<iv>.<tag>.<ciphertext>` (base64url).
 * The entry's own Redis key is authenticated with it (AAD), so an entry copied under another
 * key does not open. The first key seals; every key opens (rotation).
 * The keys live in `#private` fields: no property walk (`inspect`, a debugger's object view,
 * a serialiser) of the service that holds this cipher reaches them.
 */
export class TokenCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #writeId: string;

  constructor(keys: readonly { readonly id: string; readonly key: Buffer }[]) {
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
    this.#writeId = keys[0].id;
  }

  /** Seals `plain` under the first key, bound to `aad` (the Redis name it is written under). */
  seal(plain: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#writeId)!, iv);
    cipher.setAAD(Buffer.from(`${this.#writeId}\n${aad}`));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), ct].map((b) => b.toString('base64url'));
    return `${VERSION}.${this.#writeId}.${parts.join('.')}`;
  }

  /** The plain text, or why not. Never throws. */
  open(sealed: unknown, aad: string): { plain: string } | OpenFailure {
    if (typeof sealed !== 'string' || sealed.length > MAX_SEALED_LENGTH) return 'rejected';
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) return 'rejected';
    const [, id, iv, tag, ct] = parts;
    const key = this.#keys.get(id);
    if (key === undefined) return 'unknown-key';
    try {
      const ivBytes = Buffer.from(iv, 'base64url');
      const tagBytes = Buffer.from(tag, 'base64url');
      if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) return 'rejected';
      const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(`${id}\n${aad}`));
      decipher.setAuthTag(tagBytes);
      const plain = Buffer.concat([
        decipher.update(Buffer.from(ct, 'base64url')),
        decipher.final(),
      ]);
      return { plain: plain.toString('utf8') };
    } catch {
      return 'rejected';
    }
  }
}

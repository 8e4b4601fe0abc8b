import { readFile, stat } from 'node:fs/promises';

/**
 * The certificate of a signing key as PEM text: given in the options, or read from a file that is
 * re-read when it changes (a renewed certificate deployed beside a rotated key), checked by one
 * `stat` per read. A file that cannot be read while a good one was read keeps the good one (a
 * file being rewritten may be half-written).
 */
export class CertificateText {
  #text?: string;
  #version?: string;

  constructor(
    private readonly source: { path: string } | { pem: string },
    /** The option named in messages: `certificatePath`. */
    readonly field: string,
  ) {
    if ('pem' in source) this.#text = source.pem;
  }

  /** @throws Error `certificatePath: cannot read '…' (ENOENT) — …` when no text was ever read */
  async read(): Promise<string> {
    if (!('path' in this.source)) return this.#text!;
    const path = this.source.path;
    try {
      const s = await stat(path);
      const version = `${s.mtimeMs}:${s.size}:${s.ino}`;
      if (this.#text !== undefined && version === this.#version) return this.#text;
      const text = await readFile(path, 'utf8');
      this.#text = text;
      this.#version = version;
      return text;
    } catch (e) {
      if (this.#text !== undefined) return this.#text;
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(
        `${this.field}: cannot read '${path}' (${code}) — point it at a readable PEM file holding the key's certificate`,
        { cause: e },
      );
    }
  }
}

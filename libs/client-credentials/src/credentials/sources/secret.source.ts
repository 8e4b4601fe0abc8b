import type { MsalClientCredential, TokenSource } from '../../authority/source-client';
import type { SecretSourceOptions } from '../../credential.options';

/** A client secret. */
export class SecretSource implements TokenSource {
  readonly type = 'secret';
  readonly #secret: string;

  constructor(
    options: SecretSourceOptions,
    readonly id: string,
  ) {
    this.#secret = options.secret;
  }

  async init(): Promise<string[]> {
    return [];
  }

  msalCredential(): MsalClientCredential {
    return { clientSecret: this.#secret };
  }

  toJSON(): Record<string, unknown> {
    return { type: this.type, id: this.id, secret: '[redacted]' };
  }
}

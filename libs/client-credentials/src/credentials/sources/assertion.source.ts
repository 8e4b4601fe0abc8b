import { ClientCredentialsError } from '../../errors/client-credentials.errors';
import type { MsalClientCredential, TokenSource } from '../../authority/source-client';
import type { AssertionSourceOptions } from '../../credential.options';

/** A client assertion made by the application's own callback, called for every token request. */
export class AssertionSource implements TokenSource {
  readonly type = 'assertion';
  readonly #getAssertion: AssertionSourceOptions['getAssertion'];

  constructor(
    options: AssertionSourceOptions,
    readonly id: string,
  ) {
    this.#getAssertion = options.getAssertion;
  }

  async init(): Promise<string[]> {
    return [];
  }

  msalCredential(): MsalClientCredential {
    return {
      clientAssertion: async ({ clientId, tokenEndpoint }) => {
        let assertion: unknown;
        try {
          assertion = await this.#getAssertion({ clientId, tokenEndpoint: tokenEndpoint ?? '' });
        } catch (e) {
          throw new ClientCredentialsError(
            'assertion_failed',
            `The getAssertion callback of source '${this.id}' failed: ${(e as Error)?.message ?? String(e)}.`,
            { cause: e },
          );
        }
        if (typeof assertion !== 'string' || assertion.split('.').length !== 3) {
          throw new ClientCredentialsError(
            'assertion_failed',
            `The getAssertion callback of source '${this.id}' returned ${typeof assertion === 'string' ? 'a string that is not a compact JWT' : typeof assertion}.`,
          );
        }
        return assertion;
      },
    };
  }

  toJSON(): Record<string, unknown> {
    return { type: this.type, id: this.id };
  }
}

import { ClientCredentialsError } from '../../errors/client-credentials.errors';
import { withDeadline } from '../../timing/timers';
import type { MsalClientCredential, TokenSource } from '../../authority/source-client';
import type { AssertionSourceOptions } from '../../credential.options';
import { thrownText } from '../../errors/foreign-text';

/** A client assertion made by the application's own callback, called for every token request. */
export class AssertionSource implements TokenSource {
  readonly type = 'assertion';
  readonly #getAssertion: AssertionSourceOptions['getAssertion'];

  /** @param timeoutMs the longest `getAssertion` may take (`timeouts.requestMs`) */
  constructor(
    options: AssertionSourceOptions,
    readonly id: string,
    private readonly timeoutMs: number,
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
        // The app's own code: one that never settles must not hold the token request (nor a
        // chain's next source) for longer than a request may take.
        let timedOut: ClientCredentialsError | undefined;
        try {
          assertion = await withDeadline(
            (async () => this.#getAssertion({ clientId, tokenEndpoint: tokenEndpoint ?? '' }))(),
            this.timeoutMs,
            () =>
              (timedOut = new ClientCredentialsError(
                'assertion_failed',
                `The getAssertion callback of source '${this.id}' did not settle within ${this.timeoutMs} ms (timeouts.requestMs).`,
                {},
                true,
              )),
          );
        } catch (e) {
          if (e === timedOut) throw e;
          throw new ClientCredentialsError(
            'assertion_failed',
            `The getAssertion callback of source '${this.id}' failed: ${thrownText(e)}.`,
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

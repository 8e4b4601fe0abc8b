import { ClientCredentialsError } from '../../errors/client-credentials.errors';
import type { MsalClientCredential, TokenSource } from '../../authority/source-client';

/**
 * The credential of an agent identity's msal client. An agent identity holds no credential of its
 * own (Entra refuses them): each of its requests carries its blueprint's token exchange token as
 * the client assertion of that request only. msal-node wants a credential on the client all the
 * same; this one is never asked for, and says so if it were.
 */
export class AgentSource implements TokenSource {
  readonly type = 'agent';
  readonly id = 'agent#0';

  async init(): Promise<string[]> {
    return [];
  }

  msalCredential(): MsalClientCredential {
    return {
      clientAssertion: () => {
        throw new ClientCredentialsError(
          'assertion_failed',
          "An agent identity's request went out without its blueprint's token exchange token.",
        );
      },
    };
  }

  toJSON(): Record<string, unknown> {
    return { type: this.type, id: this.id };
  }
}

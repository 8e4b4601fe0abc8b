import type { MsalClientCredential, TokenSource } from '../../authority/source-client';

/**
 * What msal-node sends should a request of an agent come without its own assertion: not a JWT, so
 * Entra would refuse it (AADSTS50027) — never another agent's token.
 */
export const NO_ASSERTION = 'agent-identity-assertion-is-per-request';

/**
 * The credential of an agent identity's msal client. An agent identity holds no credential of its
 * own (Entra refuses them): each of its requests carries its blueprint's token exchange token as
 * the client assertion of that request (msal's per-request `clientAssertion`, which msal sends in
 * place of the application's). msal-node wants a credential on the client all the same, and calls
 * its callback on every request before it looks at the request's: this one answers a placeholder.
 */
export class AgentSource implements TokenSource {
  readonly type = 'agent';
  readonly id = 'agent#0';

  async init(): Promise<string[]> {
    return [];
  }

  msalCredential(): MsalClientCredential {
    return { clientAssertion: async () => NO_ASSERTION };
  }

  toJSON(): Record<string, unknown> {
    return { type: this.type, id: this.id };
  }
}

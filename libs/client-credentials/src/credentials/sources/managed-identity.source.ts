import { AuthorityFailure } from '../../errors/authority-failure';
import type { ManagedIdentityClient } from '../../authority/managed-identity-client';
import type { ManagedIdentityHost } from '../../authority/managed-identity-hosts';
import { SourceUnavailableError } from '../../errors/source-unavailable';
import type { MsalClientCredential, TokenSource } from '../../authority/source-client';
import type {
  ManagedIdentityAssertionSourceOptions,
  ManagedIdentitySourceOptions,
} from '../../credential.options';

/** The audience of a managed identity token used as a federated credential. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

/**
 * The managed identity itself (system- or user-assigned) gets the tokens, through msal-node's
 * ManagedIdentityApplication; no app registration is involved.
 */
export class ManagedIdentitySource implements TokenSource {
  readonly type = 'managed-identity';

  constructor(
    readonly options: ManagedIdentitySourceOptions,
    readonly id: string,
  ) {}

  async init(): Promise<string[]> {
    return [];
  }

  msalCredential(): MsalClientCredential {
    throw new Error('a managed-identity source has no app credential');
  }

  toJSON(): Record<string, unknown> {
    return { ...this.options, id: this.id };
  }
}

/**
 * Keyless app authentication on Azure compute: a managed identity token (audience
 * `api://AzureADTokenExchange`) is the app registration's client assertion, through a federated
 * identity credential on the app that trusts the managed identity.
 */
export class ManagedIdentityAssertionSource implements TokenSource {
  readonly type = 'managed-identity-assertion';

  constructor(
    readonly options: ManagedIdentityAssertionSourceOptions,
    readonly id: string,
    private readonly identity: ManagedIdentityClient,
  ) {}

  /** The host that issues the managed identity token presented as the assertion. */
  get host(): ManagedIdentityHost {
    return this.identity.host;
  }

  /** Ends the managed identity client's share of the process-wide forwarder. */
  release(): void {
    this.identity.release();
  }

  async init(): Promise<string[]> {
    return [];
  }

  msalCredential(): MsalClientCredential {
    return {
      clientAssertion: async () => {
        try {
          return (await this.identity.assertion(this.options.audience ?? TOKEN_EXCHANGE_AUDIENCE))
            .token;
        } catch (e) {
          // No managed identity answers here (off Azure, IMDS hangs): the chain moves on.
          if (
            e instanceof AuthorityFailure &&
            (e.kind === 'timeout' || e.kind === 'network_error')
          ) {
            throw new SourceUnavailableError(
              this.id,
              `no managed identity token: ${e.errorMessage}`,
            );
          }
          throw e;
        }
      },
    };
  }

  toJSON(): Record<string, unknown> {
    return { ...this.options, id: this.id };
  }
}

import {
  type INetworkModule,
  LogLevel,
  ManagedIdentityApplication,
  type ManagedIdentityIdParams,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import type { LoggerService } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { AuthorityFailure } from './authority-failure';
import type { AuthorityNetworkClient } from './network-client';
import { SourceUnavailableError } from './sources/source-unavailable';
import type { TokenSource } from './sources/token-source';
import type { IssuedToken, SourceClient } from './token-client';

/**
 * msal-node keeps the managed identity source it picks first in a static, with the network
 * client of the application that picked it: every later ManagedIdentityApplication of the process
 * goes through that one. So all of ours share this stable forwarder, which sends each request
 * through the network client (timeout, CA) of the credential that made it: the one set around its
 * call by {@link IdentityNetwork.run}. Only a request made outside any call (none of ours) goes
 * through the most recently started credential that is still open.
 */
class IdentityNetwork implements INetworkModule {
  private readonly clients: AuthorityNetworkClient[] = [];
  private readonly caller = new AsyncLocalStorage<AuthorityNetworkClient>();

  /** Runs `call` with every request it makes sent through `client`. */
  run<T>(client: AuthorityNetworkClient, call: () => Promise<T>): Promise<T> {
    return this.caller.run(client, call);
  }

  use(client: AuthorityNetworkClient): () => void {
    this.clients.push(client);
    return () => {
      const i = this.clients.indexOf(client);
      if (i >= 0) this.clients.splice(i, 1);
    };
  }

  sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    return this.current().sendGetRequestAsync<T>(url, options, timeout);
  }

  sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    return this.current().sendPostRequestAsync<T>(url, options);
  }

  private current(): AuthorityNetworkClient {
    const client = this.caller.getStore() ?? this.clients.at(-1);
    if (client === undefined) {
      throw new AuthorityFailure('network_error', {}, 'the token service is shut down');
    }
    return client;
  }
}

const identityNetwork = new IdentityNetwork();

/**
 * A managed identity, through msal-node's ManagedIdentityApplication (App Service, Functions,
 * Container Apps, AKS, VMs — msal picks the endpoint from the environment). Its requests go
 * through our network client, so they have a timeout and never hang a caller.
 */
export class ManagedIdentityClient implements SourceClient {
  /**
   * Off Azure, the managed identity endpoint (IMDS) usually times out rather than refusing:
   * a chain moves on to its next source after a timeout too.
   */
  readonly moveOnAfter: ReadonlySet<string> = new Set(['timeout', 'network_error']);
  readonly #app: ManagedIdentityApplication;
  /** Stops routing the shared forwarder through this client's network client. */
  readonly release: () => void;

  constructor(
    readonly source: TokenSource,
    idParams: ManagedIdentityIdParams | undefined,
    private readonly network: AuthorityNetworkClient,
    logger: LoggerService,
  ) {
    this.release = identityNetwork.use(network);
    this.#app = new ManagedIdentityApplication({
      managedIdentityIdParams: idParams,
      system: {
        networkClient: identityNetwork,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: LogLevel.Warning,
          loggerCallback: (_level, message) => {
            logger.debug?.(`msal: ${message}`);
          },
        },
      },
    });
  }

  /** A token for the resource of `scopes` (`<resource>/.default`). */
  async acquire(_tenantId: string, scopes: readonly string[]): Promise<IssuedToken> {
    return this.request(scopes[0].replace(/\/\.default$/, ''), true);
  }

  /** A managed identity token for `audience`, to be used as a client assertion; msal caches it. */
  async assertion(audience: string): Promise<IssuedToken> {
    return this.request(audience, false);
  }

  private async request(resource: string, forceRefresh: boolean): Promise<IssuedToken> {
    try {
      const result = await identityNetwork.run(this.network, () =>
        this.#app.acquireToken({ resource, forceRefresh }),
      );
      return {
        token: result.accessToken,
        tokenType: result.tokenType || 'Bearer',
        expiresOn: (result.expiresOn ?? new Date()).getTime(),
        refreshOn: result.refreshOn?.getTime(),
        correlationId: result.correlationId,
      };
    } catch (e) {
      // Nothing answers where the managed identity endpoint should be: not on Azure compute.
      if (e instanceof AuthorityFailure && e.kind === 'network_error') {
        throw new SourceUnavailableError(
          this.source.id,
          `no managed identity endpoint answers (${e.errorMessage})`,
        );
      }
      throw e;
    }
  }
}

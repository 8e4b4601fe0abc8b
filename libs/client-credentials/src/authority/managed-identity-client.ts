import {
  type INetworkModule,
  LogLevel,
  ManagedIdentityApplication,
  type ManagedIdentityIdParams,
  type NetworkRequestOptions,
  type NetworkResponse,
  ServerError,
} from '@azure/msal-node';
import type { LoggerService } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { AuthorityFailure } from '../errors/authority-failure';
import { endpointReason } from '../errors/to-client-credentials-error';
import { markHostFailure } from '../errors/host-failure';
import {
  describeIdentity,
  HOST_NOUNS,
  hostOf,
  refreshingUrl,
  throughMaintenance,
  tokenSha256,
  TOKEN_REFRESH_HOSTS,
  type ManagedIdentityHost,
  UNASSIGNED_IDENTITY,
} from './managed-identity-hosts';
import type { AuthorityNetworkClient } from './msal-network';
import { type AnswerTrail, identityAnswer, unrecognisedAnswers } from './identity-answer';
import { isCertificateFailure, pinnedAgent } from './pinned-agent';
import type { Dispatcher } from 'undici';
import { SourceUnavailableError } from '../errors/source-unavailable';
import {
  type TokenSource,
  CLIENT_CAPABILITIES,
  type IssuedToken,
  type SourceClient,
  type SourceRequest,
} from './source-client';

/**
 * Who is asking, set around each call: its network client, the host, its shutdown signal, and the
 * SHA-256 of the token its request replaces, if any.
 */
interface Caller {
  readonly client: AuthorityNetworkClient;
  readonly host: ManagedIdentityHost;
  readonly stop: AbortSignal;
  readonly refresh?: string;
  /** The connections to an endpoint whose certificate is pinned (Service Fabric). */
  readonly agent?: Dispatcher;
  /** What the call's answers have been (one passed to msal's retries under a stand-in body?). */
  readonly trail: AnswerTrail;
}

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
  private readonly caller = new AsyncLocalStorage<Caller>();

  /** Runs `call` with every request it makes sent through `caller.client`. */
  run<T>(caller: Caller, call: () => Promise<T>): Promise<T> {
    return this.caller.run(caller, call);
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
    const caller = this.caller.getStore();
    const client = caller?.client ?? this.current();
    // msal-node builds the request and has no parameter for the token to refresh on App Service
    // (it hashes a token of its own cache, for Service Fabric only): added here.
    const target =
      caller?.refresh === undefined ? url : refreshingUrl(url, caller.refresh, CLIENT_CAPABILITIES);
    // The status decides before the body: the address may be another cloud's metadata service.
    const host = caller?.host ?? 'imds';
    const send = async () =>
      identityAnswer<T>(
        await client.get(target, options, timeout, caller?.agent),
        host,
        caller?.trail,
      );
    // Only IMDS says 410 for "being updated, back within 70 s".
    return caller?.host === 'imds' ? throughMaintenance(send, caller.stop) : send();
  }

  sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    return this.current().sendPostRequestAsync<T>(url, options);
  }

  private current(): AuthorityNetworkClient {
    const client = this.caller.getStore()?.client ?? this.clients.at(-1);
    if (client === undefined) {
      throw new AuthorityFailure('network_error', {}, 'the token service is shut down');
    }
    return client;
  }
}

const identityNetwork = new IdentityNetwork();

/**
 * Resources whose last token's hash a managed identity client keeps (for a claims challenge, which
 * names no token): more than a service calls, however many it calls.
 */
const MAX_RESOURCES_REMEMBERED = 1000;

/**
 * A managed identity, through msal-node's ManagedIdentityApplication (App Service, Functions,
 * Container Apps, AKS, VMs, Arc — msal picks the endpoint from the environment). Its requests go
 * through our network client, so they have a timeout and never hang a caller. Where msal's own
 * retries are right it keeps them (a 404 or 408, retried 3 times, whatever its body); IMDS
 * maintenance (410) is waited out here ({@link throughMaintenance}).
 */
export class ManagedIdentityClient implements SourceClient {
  /**
   * Off Azure, the managed identity endpoint (IMDS) usually times out rather than refusing:
   * a chain moves on to its next source after a timeout too.
   */
  readonly moveOnAfter: ReadonlySet<string> = new Set(['timeout', 'network_error']);
  /** The host that answers: where msal-node sends this process's managed identity requests. */
  readonly host: ManagedIdentityHost;
  readonly #app: ManagedIdentityApplication;
  readonly #unuse: () => void;
  /** Ends a wait for IMDS maintenance when the service shuts down. */
  readonly #stop = new AbortController();
  /**
   * The SHA-256 of the last token obtained per resource: the one a claims challenge refuses (the
   * challenge does not say which), as msal-node hashes the token of its own cache.
   */
  readonly #lastIssued = new Map<string, string>();
  /**
   * Service Fabric's token service presents the cluster's certificate, pinned by the platform in
   * `IDENTITY_SERVER_THUMBPRINT` (msal-node detects the host and leaves the check to us).
   */
  readonly #pinned?: Dispatcher;

  constructor(
    readonly source: TokenSource,
    private readonly idParams: ManagedIdentityIdParams | undefined,
    private readonly network: AuthorityNetworkClient,
    logger: LoggerService,
  ) {
    this.#unuse = identityNetwork.use(network);
    this.#app = new ManagedIdentityApplication({
      managedIdentityIdParams: idParams,
      system: {
        networkClient: identityNetwork,
        loggerOptions: {
          piiLoggingEnabled: false,
          // Errors only: every answer warns that it has no client_info (never true of this flow).
          logLevel: LogLevel.Error,
          loggerCallback: (_level, message) => {
            logger.debug?.(`msal: ${message}`);
          },
        },
      },
    });
    this.host = hostOf(this.#app.getManagedIdentitySource());
    if (this.host === 'service-fabric') {
      this.#pinned = pinnedAgent(process.env.IDENTITY_SERVER_THUMBPRINT ?? '');
    }
    // Service Fabric ignores a user-assigned identity asked for at runtime: its tokens are those
    // of the identity the cluster gave the application (msal warns; its warnings are off above).
    if (this.host === 'service-fabric' && idParams !== undefined) {
      logger.warn(
        `Managed identity source '${source.id}': Service Fabric does not choose a user-assigned identity per request; tokens are those of the identity the cluster assigns to this application (https://learn.microsoft.com/azure/service-fabric/configure-existing-cluster-enable-managed-identity-token-service).`,
      );
    }
  }

  /** Stops routing the shared forwarder through this client's network client; ends waits. */
  release(): void {
    this.#unuse();
    void this.#pinned?.destroy();
    this.#stop.abort(new AuthorityFailure('network_error', {}, 'the token service is shut down'));
  }

  /**
   * A token for the resource of `scopes` (`<resource>/.default`), never from msal's cache. In place
   * of the token it replaces (`refused` by an API, or renewed by a background refresh), or for a
   * claims challenge (`claims`, of the last token obtained), an App Service or Service Fabric
   * endpoint is told the token's SHA-256 with the client capabilities: it would answer with the
   * same token from its own cache otherwise. Other hosts have no such parameter (see
   * {@link TOKEN_REFRESH_HOSTS}): they answer from their cache until the token nears its end.
   */
  async acquire({ scopes, claims, refused }: SourceRequest): Promise<IssuedToken> {
    const resource = scopes[0].replace(/\/\.default$/, '');
    if (!TOKEN_REFRESH_HOSTS.has(this.host)) return this.request(resource, true, claims);
    const refresh =
      refused !== undefined
        ? tokenSha256(refused)
        : claims !== undefined
          ? this.#lastIssued.get(resource)
          : undefined;
    const issued = await this.request(resource, true, claims, refresh);
    // Most recent last; the oldest resource goes past the bound (a service asking for tokens of
    // ever new resources must not grow this map without end).
    this.#lastIssued.delete(resource);
    this.#lastIssued.set(resource, tokenSha256(issued.token));
    if (this.#lastIssued.size > MAX_RESOURCES_REMEMBERED) {
      this.#lastIssued.delete(this.#lastIssued.keys().next().value as string);
    }
    return issued;
  }

  /** A managed identity token for `audience`, to be used as a client assertion; msal caches it. */
  async assertion(audience: string): Promise<IssuedToken> {
    return this.request(audience, false);
  }

  private async request(
    resource: string,
    forceRefresh: boolean,
    claims?: string,
    refresh?: string,
  ): Promise<IssuedToken> {
    const caller: Caller = {
      client: this.network,
      host: this.host,
      stop: this.#stop.signal,
      refresh,
      agent: this.#pinned,
      trail: { count: 0 },
    };
    try {
      const result = await identityNetwork.run(caller, () =>
        this.#app.acquireToken({
          resource,
          forceRefresh,
          ...(claims === undefined ? {} : { claims }),
        }),
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
        // An endpoint that is there, but whose certificate fails the check (chain, name, pin).
        throw new SourceUnavailableError(
          this.source.id,
          isCertificateFailure(e.reason)
            ? `the ${this.host} endpoint's certificate is not trusted (${e.errorMessage}); nothing was sent to it`
            : `no managed identity endpoint answers (${e.errorMessage})`,
        );
      }
      // Something else answers at the endpoint's address (another cloud's metadata service).
      if (e instanceof AuthorityFailure && e.kind === 'not_managed_identity') {
        throw new SourceUnavailableError(
          this.source.id,
          `no managed identity endpoint here: ${e.errorMessage}`,
        );
      }
      // msal gave up retrying answers that were none of a managed identity endpoint (a 404 or 408
      // with a body that is no managed identity answer, each time): nothing here is one.
      const unrecognised =
        e instanceof ServerError ? unrecognisedAnswers(caller.trail, this.host) : undefined;
      if (unrecognised !== undefined) {
        throw new SourceUnavailableError(
          this.source.id,
          `no managed identity endpoint here: ${unrecognised.errorMessage}`,
        );
      }
      // The host has no such identity: a configuration fact, not an outage — no retry helps, the
      // chain moves on. Each host says so in its own words (UNASSIGNED_IDENTITY).
      const reason = e instanceof ServerError ? endpointReason(e) : undefined;
      if (e instanceof ServerError && reason !== undefined && UNASSIGNED_IDENTITY.test(reason)) {
        const correlation = e.correlationId ? ` (correlation id ${e.correlationId})` : '';
        throw new SourceUnavailableError(
          this.source.id,
          `the ${this.host} endpoint answered "${reason}"${correlation}: assign ${describeIdentity(this.idParams)} to this ${HOST_NOUNS[this.host]}, or fix the id in the options`,
        );
      }
      // The endpoint's answer (a 429, a 5xx, a refusal) is this host's: never shared with replicas
      // on other hosts through the token lock.
      throw markHostFailure(e);
    }
  }
}

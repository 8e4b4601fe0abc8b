import { AuthError, ConfidentialClientApplication, LogLevel, ProtocolMode } from '@azure/msal-node';
import type { LoggerService } from '@nestjs/common';
import { AuthorityFailure } from './authority-failure';
import type { AuthorityNetworkClient } from './network-client';
import type { ResolvedCredential } from './options.validation';
import type { TokenSource } from './sources/token-source';

/** A token as the authority issued it. */
export interface IssuedToken {
  readonly token: string;
  readonly tokenType: string;
  readonly expiresOn: number;
  /** When the authority suggests refreshing (`refresh_in`), if it said. */
  readonly refreshOn?: number;
  readonly correlationId?: string;
}

/** Gets tokens for one credential source. */
export interface SourceClient {
  readonly source: TokenSource;
  /** Error codes, besides the credential ones, after which a chain moves on to its next source. */
  readonly moveOnAfter?: ReadonlySet<string>;
  acquire(tenantId: string, scopes: readonly string[], correlationId: string): Promise<IssuedToken>;
}

/** What msal-node throws when it could not read an authority's discovery document. */
const DISCOVERY_ERRORS: ReadonlySet<string> = new Set([
  'openid_config_error',
  'endpoints_resolution_error',
]);

/**
 * The msal-node application of one credential source: created once, reused for every tenant
 * and scope. msal is the protocol engine only; the cache is ours, so msal's cache is skipped
 * on read and emptied after every request (it would otherwise grow per tenant and scope, and
 * its lookups cost more as it grows).
 */
export class TokenClient implements SourceClient {
  /** Private (#) so that no inspect or serialisation reaches the secret in msal's configuration. */
  readonly #app: ConfidentialClientApplication;

  constructor(
    private readonly credential: Omit<ResolvedCredential, 'sources'>,
    readonly source: TokenSource,
    private readonly network: AuthorityNetworkClient,
    logger: LoggerService,
  ) {
    const host = new URL(credential.authorityHost).host;
    this.#app = new ConfidentialClientApplication({
      auth: {
        clientId: credential.clientId,
        authority: this.authorityFor(credential.tenantId),
        knownAuthorities: [host],
        authorityMetadata:
          credential.protocol === 'entra' ? entraMetadata(credential.authorityHost) : undefined,
        ...source.msalCredential(),
      },
      system: {
        networkClient: network,
        protocolMode: credential.protocol === 'oidc' ? ProtocolMode.OIDC : ProtocolMode.AAD,
        loggerOptions: {
          piiLoggingEnabled: false,
          // Failures reach the caller as typed errors; msal's own lines are for debugging only.
          logLevel: LogLevel.Warning,
          loggerCallback: (_level, message) => {
            logger.debug?.(`msal: ${message}`);
          },
        },
      },
    });
  }

  /** Asks the authority for a token; errors come out as thrown by msal or our network client. */
  async acquire(
    tenantId: string,
    scopes: readonly string[],
    correlationId: string,
  ): Promise<IssuedToken> {
    try {
      const result = await this.#app.acquireTokenByClientCredential({
        scopes: [...scopes],
        authority: this.authorityFor(tenantId),
        skipCache: true,
        correlationId,
      });
      if (!result?.accessToken || !result.expiresOn) {
        throw new AuthorityFailure(
          'invalid_response',
          { correlationId },
          'msal returned no access token',
        );
      }
      return {
        token: result.accessToken,
        tokenType: result.tokenType || 'Bearer',
        expiresOn: result.expiresOn.getTime(),
        refreshOn: result.refreshOn?.getTime(),
        correlationId: result.correlationId,
      };
    } catch (e) {
      // msal reports any failed discovery as a configuration error: give back the real,
      // possibly transient cause (a 503 is retried like one of the token endpoint).
      if (e instanceof AuthError && DISCOVERY_ERRORS.has(e.errorCode)) {
        throw this.network.discoveryFailure(this.authorityFor(tenantId)) ?? e;
      }
      throw e;
    } finally {
      this.#app.clearCache();
    }
  }

  private authorityFor(tenantId: string): string {
    return `${this.credential.authorityHost}/${tenantId}`;
  }
}

/**
 * Entra ID's metadata, built locally with msal's `{tenant}` placeholder: msal then makes no
 * discovery request, for any tenant, and a per-call tenant reuses the same application.
 */
function entraMetadata(host: string): string {
  return JSON.stringify({
    token_endpoint: `${host}/{tenant}/oauth2/v2.0/token`,
    authorization_endpoint: `${host}/{tenant}/oauth2/v2.0/authorize`,
    issuer: `${host}/{tenant}/v2.0`,
    jwks_uri: `${host}/{tenant}/discovery/v2.0/keys`,
    end_session_endpoint: `${host}/{tenant}/oauth2/v2.0/logout`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
  });
}

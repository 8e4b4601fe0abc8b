import {
  AuthError,
  ConfidentialClientApplication,
  LogLevel,
  ProtocolMode,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import type { LoggerService } from '@nestjs/common';
import { AuthorityFailure } from '../errors/authority-failure';
import { InvalidRequestError } from '../errors/client-credentials.errors';
import type { AuthorityNetworkClient } from './msal-network';
import type { CredentialSettings } from '../options/resolved-options';
import type { DpopKey } from './dpop-key';
import { DpopNetwork } from './dpop-network';
import { MtlsNetwork } from './mtls-network';
import { CLIENT_CAPABILITIES, type IssuedToken, type SourceClient } from './source-client';
import type { TokenSource } from './source-client';

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
  /** The network client of a credential whose tokens are bound to the source's certificate. */
  readonly #mtls?: MtlsNetwork;

  /** @param dpop the credential's DPoP key: every request carries a proof, every token is bound */
  constructor(
    private readonly credential: CredentialSettings,
    readonly source: TokenSource,
    private readonly network: AuthorityNetworkClient,
    logger: LoggerService,
    private readonly dpop?: DpopKey,
  ) {
    const host = new URL(credential.authorityHost).host;
    let networkClient: INetworkModule = network;
    if (dpop !== undefined) networkClient = new DpopNetwork(network, dpop);
    else if (credential.mtls !== undefined) {
      networkClient = this.#mtls = new MtlsNetwork(network, credential.mtls.entraOrigin);
    }
    if (credential.issuer !== undefined) networkClient = new IssuerNetwork(networkClient);
    this.#app = new ConfidentialClientApplication({
      auth: {
        clientId: credential.clientId,
        authority: this.authorityFor(credential.tenantId),
        knownAuthorities: [host],
        authorityMetadata:
          credential.protocol === 'entra' ? entraMetadata(credential.authorityHost) : undefined,
        // msal merges it into the `claims` of every token request (xms_cc), with a call's claims.
        clientCapabilities: [...CLIENT_CAPABILITIES],
        // With mTLS the certificate of the handshake authenticates the app: msal insists on a
        // credential, whose stand-in the network client takes out of each request.
        ...(this.#mtls === undefined
          ? source.msalCredential()
          : { clientAssertion: async () => 'presented-in-the-tls-handshake' }),
      },
      system: {
        networkClient,
        protocolMode: credential.protocol === 'oidc' ? ProtocolMode.OIDC : ProtocolMode.AAD,
        loggerOptions: {
          piiLoggingEnabled: false,
          // Failures reach the caller as typed errors; msal's own lines are for debugging only.
          // Its warnings are noise in this flow: every token answer warns that it has no
          // client_info, which a client-credentials answer never has (a debug line per request).
          logLevel: LogLevel.Error,
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
    claims?: string,
  ): Promise<IssuedToken> {
    // An issuer has one realm: a token of it must never be cached as another tenant's.
    if (this.credential.issuer !== undefined && tenantId !== this.credential.tenantId) {
      throw new InvalidRequestError(
        'tenant_unsupported',
        `Credential '${this.credential.name}' names an OIDC issuer: it has tokens of that issuer only, not of tenant '${tenantId}'.`,
        { credential: this.credential.name, tenantId },
      );
    }
    const certificate = await this.#mtls?.certificateOf(this.source);
    const forget = certificate && this.#mtls!.present(correlationId, certificate);
    try {
      const result = await this.#app.acquireTokenByClientCredential({
        scopes: [...scopes],
        authority: this.authorityFor(tenantId),
        skipCache: true,
        correlationId,
        ...(claims === undefined ? {} : { claims }),
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
        // A DPoP or mtls_pop answer was checked as one on its way in, and shown to msal as opaque.
        tokenType:
          this.dpop !== undefined
            ? 'DPoP'
            : this.credential.mtls?.entraOrigin !== undefined
              ? 'mtls_pop'
              : result.tokenType || 'Bearer',
        expiresOn: result.expiresOn.getTime(),
        refreshOn: result.refreshOn?.getTime(),
        correlationId: result.correlationId,
        certificateThumbprint: certificate?.thumbprint,
      };
    } catch (e) {
      // msal reports any failed discovery as a configuration error: give back the real,
      // possibly transient cause (a 503 is retried like one of the token endpoint).
      if (e instanceof AuthError && DISCOVERY_ERRORS.has(e.errorCode)) {
        throw this.network.discoveryFailure(this.authorityFor(tenantId)) ?? e;
      }
      throw e;
    } finally {
      forget?.();
      this.#app.clearCache();
    }
  }

  private authorityFor(tenantId: string): string {
    return this.credential.issuer ?? `${this.credential.authorityHost}/${tenantId}`;
  }
}

/**
 * The network client of a credential named by its OIDC issuer. msal sends a client secret in the
 * body (client_secret_post); an issuer whose discovery document lists `client_secret_basic` but not
 * `client_secret_post` gets it in the Authorization header instead (RFC 6749 §2.3.1).
 */
class IssuerNetwork implements INetworkModule {
  #basic = false;

  constructor(private readonly network: INetworkModule) {}

  async sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    const res = await this.network.sendGetRequestAsync<T>(url, options, timeout);
    const methods = (res.body as { token_endpoint_auth_methods_supported?: unknown })
      ?.token_endpoint_auth_methods_supported;
    if (Array.isArray(methods)) {
      this.#basic =
        methods.includes('client_secret_basic') && !methods.includes('client_secret_post');
    }
    return res;
  }

  sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    const secret = form.get('client_secret');
    if (!this.#basic || secret === null) return this.network.sendPostRequestAsync<T>(url, options);
    const id = form.get('client_id') ?? '';
    form.delete('client_secret');
    form.delete('client_id');
    // RFC 6749 §2.3.1: each part form-encoded before the base64 of `id:secret`.
    const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
    const basic = Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64');
    return this.network.sendPostRequestAsync<T>(url, {
      ...options,
      headers: { ...options?.headers, authorization: `Basic ${basic}` },
      body: form.toString(),
    });
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

import {
  AuthError,
  ConfidentialClientApplication,
  type AuthenticationResult,
  LogLevel,
  ProtocolMode,
  type INetworkModule,
} from '@azure/msal-node';
import type { LoggerService } from '@nestjs/common';
import { AuthorityFailure } from '../errors/authority-failure';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import type { TokenRequestContext } from '../credential.options';
import { DEFAULTS } from '../options/defaults';
import { parameterProblems } from '../options/token-request-parameters';
import { withDeadline } from '../timing/timers';
import { boundedCredential } from './bounded-credential';
import { ParameterNetwork, type RequestExtras } from './request-parameters';
import type { AuthorityNetworkClient } from './msal-network';
import type { CredentialSettings } from '../options/resolved-options';
import type { DpopKey } from './dpop-key';
import { DpopNetwork, NonceChallenge } from './dpop-network';
import { IssuerNetwork } from './issuer-network';
import { MtlsNetwork } from './mtls-network';
import {
  CLIENT_CAPABILITIES,
  type IssuedToken,
  type SourceClient,
  type SourceRequest,
} from './source-client';
import type { TokenSource } from './source-client';
import { thrownText } from '../errors/foreign-text';

/** msal-common's `storeInCache`: none of the answer's tokens is written to msal's own cache. */
const NOT_STORED = {
  storeInCache: { accessToken: false, idToken: false, refreshToken: false },
} as object;

/** An agent user, by its object id or its user principal name (msal's two ways). */
export type AgentUserName = { readonly userObjectId: string } | { readonly username: string };

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
  /** Adds the credential's `tokenRequest` parameters and headers to its token requests. */
  readonly #extras?: ParameterNetwork;
  /** The longest a `tokenRequest.customize` hook may take. */
  private readonly requestMs: number;
  /** The credential's DPoP key, when its tokens are bound to one. */
  private readonly dpop?: DpopKey;

  /**
   * @param settings.requestMs the longest a `tokenRequest.customize` hook may take
   * @param settings.dpop the credential's DPoP key: every request carries a proof, every token
   * is bound
   */
  constructor(
    private readonly credential: CredentialSettings,
    readonly source: TokenSource,
    private readonly network: AuthorityNetworkClient,
    logger: LoggerService,
    settings: { readonly requestMs?: number; readonly dpop?: DpopKey } = {},
  ) {
    this.requestMs = settings.requestMs ?? DEFAULTS.timeouts.requestMs;
    this.dpop = settings.dpop;
    const host = new URL(credential.authorityHost).host;
    // msal calls the outermost first: the `tokenRequest` parameters are added to the form, a
    // secret moved to the Authorization header for an issuer that takes it there only, and the
    // DPoP proof added (a nonce it was asked for comes back as a NonceChallenge: see run) — or,
    // with mTLS, the request sent
    // over a connection presenting the source's certificate.
    let networkClient: INetworkModule = network;
    if (settings.dpop !== undefined) networkClient = new DpopNetwork(network, settings.dpop);
    else if (credential.mtls !== undefined) {
      networkClient = this.#mtls = new MtlsNetwork(network, credential.mtls.entraOrigin);
    }
    if (credential.issuer !== undefined) networkClient = new IssuerNetwork(networkClient);
    if (credential.tokenRequest !== undefined) {
      networkClient = this.#extras = new ParameterNetwork(networkClient);
    }
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
          ? boundedCredential(source, this.requestMs)
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
  async acquire(request: SourceRequest): Promise<IssuedToken> {
    const { tenantId, scopes, correlationId, claims, fmiPath, clientAssertion } = request;
    // An issuer has one realm: a token of it must never be cached as another tenant's.
    if (this.credential.issuer !== undefined && tenantId !== this.credential.tenantId) {
      throw new InvalidRequestError(
        'tenant_unsupported',
        `Credential '${this.credential.name}' names an OIDC issuer: it has tokens of that issuer only, not of tenant '${tenantId}'.`,
        { credential: this.credential.name, tenantId },
      );
    }
    const extras = await this.extrasFor(request);
    return this.run(tenantId, correlationId, extras, () =>
      this.#app.acquireTokenByClientCredential({
        scopes: [...scopes],
        authority: this.authorityFor(tenantId),
        skipCache: true,
        // Nor written: msal's save scans every token it holds (those of the requests in flight)
        // for ones to replace. Not in the request's type, but honoured by msal's response handler
        // (msal-common `BaseAuthRequest.storeInCache`); the cache is emptied after each request
        // all the same.
        ...NOT_STORED,
        correlationId,
        ...(claims === undefined ? {} : { claims }),
        // Entra Agent ID: msal sends it as `fmi_path` (the blueprint's token exchange token).
        ...(fmiPath === undefined ? {} : { fmiPath }),
        // msal sends the request's own assertion in place of the application's.
        ...(clientAssertion === undefined ? {} : { clientAssertion }),
      }),
    );
  }

  /**
   * An agent user's delegated token (Entra Agent ID, the `user_fic` grant), through msal-node's
   * `acquireTokenByUserFederatedIdentityCredential`: `clientAssertion` is the blueprint's token
   * exchange token, `userAssertion` the agent's own token for the token exchange scope, and the
   * user is named by its object id or its UPN. A claims challenge's `claims` are merged by msal
   * with the client capabilities (`cp1`), as for client credentials.
   */
  async acquireForUser(
    request: SourceRequest & { readonly userAssertion: string; readonly user: AgentUserName },
  ): Promise<IssuedToken> {
    const { tenantId, scopes, correlationId, claims, clientAssertion, userAssertion, user } =
      request;
    const extras = await this.extrasFor(request);
    return this.run(tenantId, correlationId, extras, () =>
      this.#app.acquireTokenByUserFederatedIdentityCredential({
        scopes: [...scopes],
        authority: this.authorityFor(tenantId),
        correlationId,
        assertion: userAssertion,
        ...user,
        ...(claims === undefined ? {} : { claims }),
        ...(clientAssertion === undefined ? {} : { clientAssertion }),
      }),
    );
  }

  /**
   * The extra parameters and headers of a request (`tokenRequest`): the fixed ones, and what the
   * customize hook adds — told the request's credential, client, tenant and scopes, never a secret.
   * @throws ClientCredentialsError `request_parameters_invalid`
   */
  private async extrasFor(request: SourceRequest): Promise<RequestExtras | undefined> {
    const t = this.credential.tokenRequest;
    if (t === undefined) return undefined;
    if (t.customize === undefined) return t;
    const customize = t.customize;
    const { name, clientId } = this.credential;
    const where = { credential: name, tenantId: request.tenantId };
    const fail = (what: string, cause?: unknown) =>
      new ClientCredentialsError(
        'request_parameters_invalid',
        `The tokenRequest.customize hook of credential '${name}' ${what}.`,
        { ...where, cause },
      );
    const context: TokenRequestContext = Object.freeze({
      credential: name,
      clientId,
      tenantId: request.tenantId,
      scopes: Object.freeze([...request.scopes]),
    });
    let added: Record<string, unknown> | undefined;
    let timedOut: ClientCredentialsError | undefined;
    try {
      // The app's own code: one that never settles must not hold the token request.
      const answer: unknown = await withDeadline(
        (async () => customize(context))(),
        this.requestMs,
        () => (timedOut = fail(`did not settle within ${this.requestMs} ms (timeouts.requestMs)`)),
      );
      // Read once, here: a getter or a Proxy that throws is the hook's failure, and what is
      // checked below is what is sent (a getter read twice could answer otherwise the second time).
      added = snapshot(answer);
    } catch (e) {
      if (e === timedOut) throw e;
      throw fail(`failed: ${thrownText(e)}`, e);
    }
    const problems = parameterProblems(added, 'parameters');
    if (problems.length > 0) throw fail(`returned ${problems.join('; ')}`);
    const parameters = { ...t.parameters, ...(added as Record<string, string> | undefined) };
    return { parameters, headers: t.headers };
  }

  /** One msal request, with its extras, its answer checked and msal's cache emptied after it. */
  private async run(
    tenantId: string,
    correlationId: string,
    extras: RequestExtras | undefined,
    call: () => Promise<AuthenticationResult | null>,
  ): Promise<IssuedToken> {
    // mTLS: the certificate the source presents now (re-read when its file changed), for this
    // request's connection; the token must come back bound to it.
    const certificate = await this.#mtls?.certificateOf(this.source);
    const forget = certificate && this.#mtls!.present(correlationId, certificate);
    try {
      const once = () =>
        extras === undefined || this.#extras === undefined
          ? call()
          : this.#extras.with(correlationId, extras, call);
      let result: AuthenticationResult | null;
      try {
        result = await once();
      } catch (e) {
        if (!(e instanceof NonceChallenge)) throw e;
        // DPoP: the server gave its nonce with a refusal. msal makes the request again — a new
        // form, a new client assertion where there is one — and the proof carries the nonce.
        result = await once().catch((again: unknown) => {
          throw again instanceof NonceChallenge ? (again.refusal ?? again) : again;
        });
      }
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

/**
 * A plain copy of a hook's answer (its own enumerable string keys, each read once), or the answer
 * itself when it is not an object (parameterProblems says what is wrong with it).
 */
function snapshot(answer: unknown): Record<string, unknown> | undefined {
  if (answer === undefined || answer === null) return undefined;
  if (typeof answer !== 'object' || Array.isArray(answer)) return answer as Record<string, unknown>;
  return Object.fromEntries(Object.entries(answer));
}

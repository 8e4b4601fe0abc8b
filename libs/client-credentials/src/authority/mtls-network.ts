import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { AuthorityFailure } from '../errors/authority-failure';
import { ConfigurationError } from '../errors/client-credentials.errors';
import type { ClientCertificate } from './client-certificate';
import { tokenAnswer, type AuthorityNetworkClient } from './msal-network';
import type { TokenSource } from './source-client';
import { checkCertificateBinding } from './token-response';

/** Form parameters that authenticate a client otherwise: here the certificate of the handshake does. */
const OTHER_CLIENT_AUTHENTICATION = ['client_assertion', 'client_assertion_type', 'client_secret'];

/** What the discovery document of an issuer says of a token endpoint (RFC 8705 §3.3, §5). */
interface MtlsMetadata {
  /** `mtls_endpoint_aliases.token_endpoint`: where a client authenticating with TLS posts. */
  readonly alias?: string;
  /** `tls_client_certificate_bound_access_tokens`. */
  readonly binds: boolean;
}

/**
 * The network client of a credential whose tokens are bound to its certificate: every token
 * request goes over a connection presenting the source's certificate in the TLS handshake, which
 * authenticates the app — no secret and no client assertion go in the body — and the token issued
 * must be bound to that certificate ({@link checkCertificateBinding}).
 * - An OIDC issuer (RFC 8705, `tls_client_auth` / `self_signed_tls_client_auth`): the request goes
 *   to the `mtls_endpoint_aliases.token_endpoint` of its discovery document when it names one (§5),
 *   else to its `token_endpoint`.
 * - Entra ID (mTLS PoP, as MSAL .NET's `WithMtlsProofOfPossession`): to the same path on Entra's
 *   mTLS host (`mtlsauth.microsoft.com`), with `token_type=mtls_pop`; the answer must be an
 *   `mtls_pop` token.
 *
 * msal-node 7 remains the protocol engine: it cannot present a certificate (its network client is
 * this one) and knows no `mtls_pop` token type, so the answer is checked here and handed to it as
 * an opaque Bearer token; the token client reports its type and certificate.
 */
export class MtlsNetwork implements INetworkModule {
  /** The mTLS metadata of each token endpoint named by a discovery document. */
  readonly #metadata = new Map<string, MtlsMetadata>();
  /** The certificate each token request under way presents, by correlation id. */
  readonly #presented = new Map<string, ClientCertificate>();

  /** @param entraOrigin Entra ID's mTLS origin (mTLS PoP); none for an OIDC issuer */
  constructor(
    private readonly network: AuthorityNetworkClient,
    private readonly entraOrigin?: string,
  ) {}

  /**
   * The certificate `source` presents now (re-read when its file changed).
   * @throws ClientCredentialsError as the source's certificate cannot be used
   */
  async certificateOf(source: TokenSource): Promise<ClientCertificate> {
    if (source.clientCertificate === undefined) {
      throw new ConfigurationError([
        `sources: '${source.id}' has no certificate to present with \`mtls\` — use certificate sources`,
      ]);
    }
    return source.clientCertificate();
  }

  /**
   * Presents `certificate` in the token request of `correlationId` (msal passes it through);
   * the returned function forgets it once the request is over.
   */
  present(correlationId: string, certificate: ClientCertificate): () => void {
    this.#presented.set(correlationId, certificate);
    return () => this.#presented.delete(correlationId);
  }

  /** Discovery documents: no certificate; their mTLS metadata is kept for the token requests. */
  async sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    const res = await this.network.sendGetRequestAsync<T>(url, options, timeout);
    const body = res.body as {
      token_endpoint?: unknown;
      mtls_endpoint_aliases?: { token_endpoint?: unknown };
      tls_client_certificate_bound_access_tokens?: unknown;
    } | null;
    if (typeof body?.token_endpoint === 'string') {
      const alias = body.mtls_endpoint_aliases?.token_endpoint;
      this.#metadata.set(body.token_endpoint, {
        alias: typeof alias === 'string' && isHttpsUrl(alias) ? alias : undefined,
        binds: body.tls_client_certificate_bound_access_tokens === true,
      });
      // One entry per tenant's document at most: keep the newest few.
      if (this.#metadata.size > 100) {
        this.#metadata.delete(this.#metadata.keys().next().value as string);
      }
    }
    return res;
  }

  async sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    const correlationId = options?.correlationId;
    const certificate =
      correlationId === undefined ? undefined : this.#presented.get(correlationId);
    if (certificate === undefined) {
      throw new AuthorityFailure(
        'invalid_response',
        { correlationId },
        'a token request of a certificate-bound credential came without its certificate',
      );
    }
    const form = new URLSearchParams(options?.body ?? '');
    for (const name of OTHER_CLIENT_AUTHENTICATION) form.delete(name);
    if (this.entraOrigin !== undefined) form.set('token_type', 'mtls_pop');
    const { target, binds } = this.route(url);
    const answer = await this.network.postPresenting(certificate, target, {
      ...options,
      body: form.toString(),
    });
    const checked = tokenAnswer<Record<string, unknown>>(
      answer,
      this.entraOrigin === undefined ? 'Bearer' : 'mtls_pop',
    );
    checkCertificateBinding(
      checked.body.access_token as string,
      certificate.thumbprint,
      binds,
      correlationId,
    );
    // For msal's eyes only: it knows no mtls_pop token type (see above).
    return { ...checked, body: { ...checked.body, token_type: 'Bearer' } as T };
  }

  /** Where a token request to `url` goes, and whether the authority binds opaque tokens. */
  private route(url: string): { target: string; binds: boolean } {
    const u = new URL(url);
    if (this.entraOrigin !== undefined) {
      // Entra's mtls_pop tokens are bound by definition; its JWTs name the certificate anyway.
      return { target: `${this.entraOrigin}${u.pathname}${u.search}`, binds: true };
    }
    const metadata = this.#metadata.get(`${u.origin}${u.pathname}`);
    if (metadata?.alias === undefined) return { target: url, binds: metadata?.binds ?? false };
    // msal's own query (client-request-id) goes along.
    const alias = new URL(metadata.alias);
    for (const [name, value] of u.searchParams) alias.searchParams.append(name, value);
    return { target: alias.href, binds: metadata.binds };
  }
}

function isHttpsUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'https:' && !u.username && !u.password;
  } catch {
    return false;
  }
}

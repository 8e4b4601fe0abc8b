import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { errors as undiciErrors } from 'undici';
import { ENVIRONMENT_PROXY, type ProxySetting } from '../options/resolved-options';
import type { Dispatcher } from 'undici';
import { leaseAgent, type AgentLease, type PresentedCertificate } from './authority-agents';
import { AuthorityFailure } from '../errors/authority-failure';
import { requestText, type TextResponse } from './text-request';
import {
  checkTokenResponse,
  lifetimeFromToken,
  failureFromError,
  parseJson,
  refuseRedirect,
  type BoundTokenType,
} from './token-response';

/** The largest token response accepted from an authority (a real one is a few KiB). */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Client certificates a network client keeps a pool for: the current one and a few rotated out. */
const MAX_PRESENTED = 4;

/**
 * msal-node's HTTP layer, on undici: a timeout on every request (msal's own POST has none), a
 * per-authority CA without `NODE_EXTRA_CA_CERTS`, a bounded body, and every failure of the token
 * endpoint turned into an {@link AuthorityFailure} with the authority's error details. A 200 answer
 * is checked before msal sees it: msal would otherwise turn `{}` into a token of `""`.
 * Connections come from the process-wide pool of the authority's origin ({@link leaseAgent}).
 */
export class AuthorityNetworkClient implements INetworkModule {
  /**
   * Private (#), as the pools below and the proxy: undici's proxy agents keep the proxy URL, which
   * may hold a password, in plain properties that no walk of the token service must reach.
   */
  readonly #lease: AgentLease;
  readonly #proxy: ProxySetting;
  /**
   * The last transient failure of each discovery document URL. msal-node swallows any error of its
   * discovery request and reports a permanent-looking `openid_config_error` instead; the token
   * client reads the real cause back from here ({@link discoveryFailure}).
   */
  private readonly discoveryFailures = new Map<string, AuthorityFailure>();
  /** The pools presenting a client certificate (mTLS), by thumbprint, oldest first. */
  readonly #presenting = new Map<string, AgentLease>();

  /**
   * @param takeLifetimeFromToken `protocol: 'oidc'`: a token answer without `expires_in` takes its
   * lifetime from the access token's `exp` ({@link lifetimeFromToken}); Entra's must have it.
   */
  constructor(
    private readonly requestTimeoutMs: number,
    private readonly ca?: readonly string[],
    proxy: ProxySetting = ENVIRONMENT_PROXY,
    private readonly takeLifetimeFromToken = false,
  ) {
    this.#proxy = proxy;
    this.#lease = leaseAgent(ca, proxy);
  }

  /**
   * Discovery documents (oidc protocol only). A transient failure (5xx, 429, timeout, network) or
   * a redirect is remembered for {@link discoveryFailure}; others are left for msal to report.
   */
  async sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    try {
      const { status, headers, text } = await this.send('GET', url, options, timeout);
      refuseRedirect(status, headers, url);
      const body = parseJson(text, status, headers);
      if (status === 429 || status >= 500) {
        throw failureFromError(status, headers, body, 'the discovery endpoint');
      }
      this.discoveryFailures.delete(url);
      return { status, headers, body: body as T };
    } catch (e) {
      // A redirect too: msal would report it as a discovery failure that names no address.
      if (e instanceof AuthorityFailure && e.kind !== 'rejected' && e.kind !== 'invalid_response') {
        this.discoveryFailures.delete(url);
        this.discoveryFailures.set(url, e);
        // One entry per tenant's document at most: keep the newest few.
        if (this.discoveryFailures.size > 100) {
          this.discoveryFailures.delete(this.discoveryFailures.keys().next().value as string);
        }
      }
      throw e;
    }
  }

  /**
   * The transient failure behind msal's report that it could not discover the metadata of
   * `authority` (a URL prefix of the discovery document), if there was one; forgotten once read.
   */
  discoveryFailure(authority: string): AuthorityFailure | undefined {
    for (const [url, failure] of this.discoveryFailures) {
      if (url.startsWith(`${authority}/`)) {
        this.discoveryFailures.delete(url);
        return failure;
      }
    }
    return undefined;
  }

  /**
   * A GET answered as it came, whatever its status and body (a managed identity endpoint's: its
   * caller decides what the answer means, see identity-answer.ts), through `agent` when given (an
   * endpoint whose certificate is pinned).
   */
  get(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
    agent?: Dispatcher,
  ): Promise<TextResponse> {
    return this.send('GET', url, options, timeout, agent);
  }

  /** Token requests. */
  async sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    return tokenAnswer<T>(await this.post(url, options));
  }

  /**
   * A token request's answer as the authority sent it, whatever its status (the JSON object of its
   * body): for a client that reads more of it than msal (a DPoP nonce) before {@link tokenAnswer}.
   */
  async post(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<unknown>> {
    const { status, headers, text } = await this.send('POST', url, options);
    return this.answerOf(url, status, headers, text);
  }

  /**
   * {@link post} over a connection that presents `certificate` in its TLS handshake (RFC 8705
   * client authentication): a pool of the authority's CA set and proxy per certificate.
   */
  async postPresenting(
    certificate: PresentedCertificate,
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<unknown>> {
    let lease = this.#presenting.get(certificate.thumbprint);
    if (lease === undefined) {
      lease = leaseAgent(this.ca, this.#proxy, certificate);
      this.#presenting.set(certificate.thumbprint, lease);
      if (this.#presenting.size > MAX_PRESENTED) {
        const oldest = this.#presenting.keys().next().value as string;
        void this.#presenting.get(oldest)?.release();
        this.#presenting.delete(oldest);
      }
    }
    const { status, headers, text } = await this.send('POST', url, options, undefined, lease.agent);
    return this.answerOf(url, status, headers, text);
  }

  /** A token endpoint's answer: redirects refused, the body's JSON object, its lifetime known. */
  private answerOf(
    url: string,
    status: number,
    headers: Record<string, string>,
    text: string,
  ): NetworkResponse<unknown> {
    refuseRedirect(status, headers, url);
    const answer = { status, headers, body: parseJson(text, status, headers) };
    if (this.takeLifetimeFromToken) lifetimeFromToken(answer);
    return answer;
  }

  /** Gives up this client's share of the connection pools (each closed with its last user). */
  async close(): Promise<void> {
    const leases = [this.#lease, ...this.#presenting.values()];
    this.#presenting.clear();
    await Promise.all(leases.map((l) => l.release()));
  }

  private async send(
    method: 'GET' | 'POST',
    url: string,
    options: NetworkRequestOptions | undefined,
    timeout?: number,
    agent: Dispatcher = this.#lease.agent,
  ): Promise<TextResponse> {
    const ms = timeout ? Math.min(timeout, this.requestTimeoutMs) : this.requestTimeoutMs;
    const correlationId = options?.correlationId;
    try {
      return await requestText(agent, {
        method,
        url,
        headers: options?.headers,
        body: options?.body,
        timeoutMs: ms,
        maxBytes: MAX_RESPONSE_BYTES,
        tooLarge: (status) =>
          new AuthorityFailure(
            'invalid_response',
            { status, correlationId },
            `the authority's answer is larger than ${MAX_RESPONSE_BYTES} bytes`,
          ),
      });
    } catch (e) {
      if (e instanceof AuthorityFailure) throw e;
      const err = e as { name?: string; code?: string; message?: string };
      const timedOut =
        err.name === 'TimeoutError' ||
        e instanceof undiciErrors.HeadersTimeoutError ||
        e instanceof undiciErrors.BodyTimeoutError ||
        e instanceof undiciErrors.ConnectTimeoutError;
      if (timedOut) {
        throw new AuthorityFailure(
          'timeout',
          { correlationId },
          `no answer from ${describe(url)} within ${ms} ms`,
          e,
        );
      }
      throw new AuthorityFailure(
        'network_error',
        { correlationId },
        `could not reach ${describe(url)}: ${err.code ?? err.name ?? 'error'}${err.message ? ` (${err.message})` : ''}`,
        e,
      );
    }
  }
}

/**
 * What msal may read of a token endpoint's answer: a checked 200 answer of `tokenType`; anything
 * else becomes the {@link AuthorityFailure} it means.
 * @throws AuthorityFailure
 */
export function tokenAnswer<T>(
  answer: NetworkResponse<unknown>,
  tokenType: BoundTokenType = 'Bearer',
): NetworkResponse<T> {
  const { status, headers, body } = answer;
  if (status !== 200) throw failureFromError(status, headers, body);
  checkTokenResponse(body, headers, tokenType);
  return answer as NetworkResponse<T>;
}

/** Host and path only: a URL's query may carry a client-request-id but never a secret; keep it short. */
function describe(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

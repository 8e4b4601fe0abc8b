import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import type { TokenService } from '../token.service';
import {
  createAuthenticatedSender,
  type AuthenticatedSender,
  type FetchFunction,
} from '../calling/authenticated-fetch';
import type { ApiNonce } from '../calling/dpop-proof';
import { DownstreamApiError, type DownstreamApiErrorContext } from '../calling/calling.errors';
import {
  answerOf,
  CallDeadline,
  callerAborted,
  exchangeFailure,
  type DownstreamApiResult,
  type DownstreamCallOptions,
} from './downstream-call';
import { readBounded } from './read-bounded';
import {
  DEFAULT_API_MAX_RESPONSE_BYTES,
  DEFAULT_API_TIMEOUT_MS,
  type DownstreamApiOptions,
} from './downstream-api.options';

/** Connections per API origin. */
const MAX_CONNECTIONS = 16;

/**
 * A named downstream API: JSON over https with its token from the cache, the 401 and claims
 * challenge handling of {@link createAuthenticatedFetch}, and typed errors. Inject it with
 * `@InjectDownstreamApi('orders')`.
 * @publicApi
 */
export class DownstreamApi {
  readonly #agent: Agent;
  readonly #options: DownstreamApiOptions;
  /** The sender of the API's own credential and tenant, built once. */
  readonly #own: AuthenticatedSender;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;

  constructor(
    /** Its name in the configuration. */
    readonly name: string,
    options: DownstreamApiOptions,
    tokens: TokenService,
  ) {
    // The TLS context is built once: given `ca`, every new connection would parse the ~150 public
    // roots plus the API's CA again (tens of ms of blocking CPU each).
    const secureContext =
      options.ca === undefined
        ? undefined
        : createSecureContext({ ca: [...rootCertificates, ...[options.ca].flat()] });
    // A bounded, kept-alive pool: a burst of calls queues on a few connections instead of opening
    // (and TLS-handshaking) one each.
    this.#agent = new Agent({
      connections: MAX_CONNECTIONS,
      connect: secureContext === undefined ? {} : { secureContext },
    });
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_API_MAX_RESPONSE_BYTES;
    this.#options = options;
    this.#tokens = tokens;
    try {
      // Built now: a base URL the origin policy refuses fails at start-up, not at the first call.
      this.#own = this.#newSender({});
    } catch (e) {
      void this.#agent.close();
      throw e;
    }
  }

  readonly #tokens: TokenService;
  /**
   * The deadlines of the calls in flight, which close() aborts. Not one long-lived signal that
   * each call combines with its own (`AbortSignal.any`): Node 20 keeps a reference in the source
   * signal for every signal combined from it, so a client's lifetime signal grew with every call.
   */
  readonly #inFlight = new Set<CallDeadline>();
  /** The API's DPoP nonce, shared by the senders of every credential and tenant it is called with. */
  readonly #nonce: ApiNonce = {};
  #closed = false;

  /** A sender for a credential and tenant, sharing the API's connections. */
  #newSender(
    call: Pick<DownstreamCallOptions, 'credential' | 'tenantId' | 'agent'>,
  ): AuthenticatedSender {
    return createAuthenticatedSender(
      this.#tokens,
      {
        baseUrl: this.#options.baseUrl,
        scopes: this.#options.scopes,
        credential: call.credential ?? this.#options.credential,
        tenantId: call.tenantId ?? this.#options.tenantId,
        agent: call.agent ?? this.#options.agent,
        allowInsecureLoopback: this.#options.allowInsecureLoopback,
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher: this.#agent,
        // A certificate-bound token's calls go over the certificate's connections, same trust.
        ca: this.#options.ca,
      },
      this.#nonce,
      // A path is a path: an absolute URL (a `nextLink`) must stay under the base URL's path too.
      'base',
    );
  }

  /**
   * The sender of a call. One for a call's own credential or tenant is built for that call and
   * not kept: the tenant of a multi-tenant service's call comes from its request and can be any
   * string, and a sender kept per string grew without bound (~1 KB each, invalid tenants
   * included). A sender is stateless (the token cache is the token service's) and costs a URL
   * parse and a few closures, next to an HTTPS call.
   */
  #senderOf(options: DownstreamCallOptions): AuthenticatedSender {
    const { credential, tenantId, agent } = options;
    if (credential === undefined && tenantId === undefined && agent === undefined) return this.#own;
    return this.#newSender(options);
  }

  /**
   * GET `path` — relative to the base URL and under its path (an absolute URL of the API, a
   * `nextLink`, only when it is under it too); resolves to the parsed JSON (undefined for 204).
   */
  get<T = unknown>(path: string, options?: DownstreamCallOptions): Promise<T> {
    return this.request<T>('GET', path, undefined, options);
  }

  /** POST `body` as JSON. */
  post<T = unknown>(path: string, body?: unknown, options?: DownstreamCallOptions): Promise<T> {
    return this.request<T>('POST', path, body, options);
  }

  /** PUT `body` as JSON. */
  put<T = unknown>(path: string, body?: unknown, options?: DownstreamCallOptions): Promise<T> {
    return this.request<T>('PUT', path, body, options);
  }

  /** PATCH `body` as JSON. */
  patch<T = unknown>(path: string, body?: unknown, options?: DownstreamCallOptions): Promise<T> {
    return this.request<T>('PATCH', path, body, options);
  }

  /** DELETE. */
  delete<T = unknown>(path: string, options?: DownstreamCallOptions): Promise<T> {
    return this.request<T>('DELETE', path, undefined, options);
  }

  /**
   * Any method; `body` is sent as JSON when given.
   * @throws DownstreamApiError for an error status, a non-JSON answer, an unreachable API or a
   * refused origin; the token service's errors when no token can be had
   */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: DownstreamCallOptions = {},
  ): Promise<T> {
    return (await this.call<T>(method, path, body, options)).body;
  }

  /**
   * Like {@link request}, resolving to how the call went as well: status, the token's source and
   * expiry, and whether a refused token was replaced (for logs and metrics).
   * @throws as {@link request}
   */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: DownstreamCallOptions = {},
  ): Promise<DownstreamApiResult<T>> {
    const started = performance.now();
    const target = withQuery(path, options.query);
    const where: DownstreamApiErrorContext = { api: this.name, method, path: target.split('?')[0] };
    if (this.#closed) throw this.#closedError(where);
    // Refused whether its token is cached or not: nothing is fetched or sent for a cancelled call.
    if (options.signal?.aborted) throw callerAborted(this.name, where, options.signal.reason);
    const deadline = new CallDeadline(this.#timeoutMs, options.signal);
    this.#inFlight.add(deadline);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let exchange: Awaited<ReturnType<AuthenticatedSender>>;
    let text: string | undefined;
    try {
      exchange = await this.#senderOf(options)(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: deadline.signal,
      });
      // Under the same signal: a body that stalls, or a close(), ends the call as the headers would.
      text = await readBounded(exchange.res, this.#maxResponseBytes);
    } catch (e) {
      // Whatever the abort surfaced as (fetch's, the body's, the token service's `aborted`).
      if (this.#closed) throw this.#closedError(where, e);
      // The caller's signal, whatever its abort surfaced as: not the API's failure (`timedOut`
      // is false once the caller's signal is aborted).
      if (options.signal?.aborted) throw callerAborted(this.name, where, options.signal.reason);
      throw exchangeFailure(e, this.name, where, deadline.timedOut ? this.#timeoutMs : undefined);
    } finally {
      deadline.end();
      this.#inFlight.delete(deadline);
    }
    return answerOf<T>(exchange, text, {
      api: this.name,
      where,
      target,
      maxResponseBytes: this.#maxResponseBytes,
      started,
    });
  }

  /**
   * Closes its connections at once: calls in flight are aborted (shutdown must not wait for a slow
   * API past a grace period) and reject with `DownstreamApiError` `api_closed`, as do calls made
   * after. `DownstreamApiModule` calls it at application shutdown.
   */
  close(): Promise<void> {
    this.#closed = true;
    const reason = new Error(`API '${this.name}' is closed`);
    for (const call of this.#inFlight) call.abort(reason);
    return this.#agent.destroy();
  }

  #closedError(where: DownstreamApiErrorContext, cause?: unknown): DownstreamApiError {
    return new DownstreamApiError(
      'api_closed',
      `${where.method} ${where.path} of API '${this.name}' ended: the API is closed (application shutdown).`,
      { ...where, cause },
    );
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name };
  }
}

function withQuery(path: string, query: DownstreamCallOptions['query']): string {
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, String(v));
  const q = params.toString();
  return q === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${q}`;
}

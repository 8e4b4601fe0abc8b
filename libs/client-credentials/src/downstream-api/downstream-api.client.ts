import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import type { TokenService } from '../token.service';
import type { AccessToken } from '../access-token';
import {
  createAuthenticatedSender,
  type AuthenticatedSender,
  type FetchFunction,
} from '../calling/authenticated-fetch';
import { DownstreamApiError, type DownstreamApiErrorContext } from '../calling/calling.errors';
import { parseBearerChallenge } from '../calling/challenge';
import { readBounded } from './read-bounded';
import {
  DEFAULT_API_MAX_RESPONSE_BYTES,
  DEFAULT_API_TIMEOUT_MS,
  type DownstreamApiOptions,
} from './downstream-api.options';

/** Connections per API origin. */
const MAX_CONNECTIONS = 16;

/**
 * Per-call options of {@link DownstreamApi}.
 * @publicApi
 */
export interface DownstreamCallOptions {
  /** Query parameters, appended to the path. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Extra headers (`Authorization` is always the API's token). */
  headers?: Record<string, string>;
  /** Stop waiting. */
  signal?: AbortSignal;
  /**
   * This call's credential (e.g. a worker's), instead of the API's.
   * @default the API's `credential`
   */
  credential?: string;
  /**
   * This call's tenant (a multi-tenant app calling on behalf of a customer tenant).
   * @default the API's `tenantId`
   */
  tenantId?: string;
}

/**
 * A successful call and how it went, from {@link DownstreamApi.call}. Never holds the token.
 * @publicApi
 */
export interface DownstreamApiResult<T = unknown> {
  /** The 2xx status. */
  status: number;
  /** The parsed JSON (undefined for an empty body). */
  body: T;
  /** The URL called, without its query. */
  url: string;
  /** The token the answer came with: its credential, where it came from and when it expires. */
  token: Pick<AccessToken, 'credential' | 'source' | 'expiresOn'>;
  /**
   * Set when the API refused the first token (401) and the call was re-sent with a new one: the
   * challenge's error, `invalid_token` or `insufficient_claims`.
   */
  refused?: string;
  /** How long the call took, token included (ms). */
  durationMs: number;
}

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
      this.#own = this.#newSender(undefined, undefined);
    } catch (e) {
      void this.#agent.close();
      throw e;
    }
  }

  readonly #tokens: TokenService;
  /**
   * The controllers of the calls in flight, which close() aborts. Not one long-lived signal that
   * each call combines with its own (`AbortSignal.any`): Node 20 keeps a reference in the source
   * signal for every signal combined from it, so a client's lifetime signal grew with every call.
   */
  readonly #inFlight = new Set<AbortController>();
  #closed = false;

  /** A sender for a credential and tenant, sharing the API's connections. */
  #newSender(credential: string | undefined, tenantId: string | undefined): AuthenticatedSender {
    return createAuthenticatedSender(this.#tokens, {
      baseUrl: this.#options.baseUrl,
      scopes: this.#options.scopes,
      credential: credential ?? this.#options.credential,
      tenantId: tenantId ?? this.#options.tenantId,
      allowInsecureLoopback: this.#options.allowInsecureLoopback,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher: this.#agent,
    });
  }

  /**
   * The sender of a call. One for a call's own credential or tenant is built for that call and
   * not kept: the tenant of a multi-tenant service's call comes from its request and can be any
   * string, and a sender kept per string grew without bound (~1 KB each, invalid tenants
   * included). A sender is stateless (the token cache is the token service's) and costs a URL
   * parse and a few closures, next to an HTTPS call.
   */
  #senderOf(options: DownstreamCallOptions): AuthenticatedSender {
    if (options.credential === undefined && options.tenantId === undefined) return this.#own;
    return this.#newSender(options.credential, options.tenantId);
  }

  /** GET `path` (relative to the base URL); resolves to the parsed JSON (undefined for 204). */
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
    // One controller per call, aborted by the caller's signal, the timeout or close(), and
    // detached from all three when the call ends: nothing long-lived keeps a trace of it.
    const controller = new AbortController();
    const caller = options.signal;
    const onCallerAbort = () => controller.abort(caller?.reason);
    if (caller?.aborted) controller.abort(caller.reason);
    else caller?.addEventListener('abort', onCallerAbort, { once: true });
    let timerFired = false;
    const timer = setTimeout(() => {
      timerFired = !controller.signal.aborted;
      // AbortSignal.timeout's reason, which fetch rejects with.
      controller.abort(
        new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      );
    }, this.#timeoutMs);
    // As AbortSignal.timeout's: the call's socket keeps the process up, not its deadline.
    timer.unref();
    this.#inFlight.add(controller);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let exchange: Awaited<ReturnType<AuthenticatedSender>>;
    let text: string | undefined;
    try {
      exchange = await this.#senderOf(options)(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
      // Under the same signal: a body that stalls, or a close(), ends the call as the headers would.
      text = await readBounded(exchange.res, this.#maxResponseBytes);
    } catch (e) {
      // Whatever the abort surfaced as (fetch's, the body's, the token service's `aborted`).
      if (this.#closed) throw this.#closedError(where, e);
      // Not `instanceof Error`: an abort's reason is a DOMException, of another realm under jest.
      if (e instanceof DownstreamApiError || isOurs(e)) throw e;
      // The fetch's redirect failure (a TypeError, as fetch's): its typed cause, for this API.
      const cause = (e as { cause?: unknown } | undefined)?.cause;
      if (cause instanceof DownstreamApiError && cause.code === 'redirect_refused') {
        throw new DownstreamApiError(
          'redirect_refused',
          `${method} ${where.path} of API '${this.name}' failed: ${cause.message.split(' Hint: ')[0]}`,
          { ...where, status: cause.status, cause: e },
        );
      }
      const timedOut = timerFired && !caller?.aborted;
      throw new DownstreamApiError(
        'api_unreachable',
        `${method} ${where.path} of API '${this.name}' ${timedOut ? `did not answer within ${this.#timeoutMs} ms` : `failed: ${causeOf(e)}`}.`,
        { ...where, cause: e },
      );
    } finally {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
      this.#inFlight.delete(controller);
    }
    const { res, token, refused } = exchange;
    if (text === undefined) {
      throw new DownstreamApiError(
        'api_response_too_large',
        `${method} ${where.path} of API '${this.name}' answered ${res.status} with a body over ${this.#maxResponseBytes} bytes (maxResponseBytes); it was not read further.`,
        { ...where, status: res.status },
      );
    }
    const parsed = parseJson(text);
    if (res.ok) {
      const result = {
        status: res.status,
        url: res.url.split('?')[0] || target.split('?')[0],
        token: { credential: token.credential, source: token.source, expiresOn: token.expiresOn },
        ...(refused === undefined ? {} : { refused }),
      };
      const durationMs = Math.round(performance.now() - started);
      if (text === '') return { ...result, body: undefined as T, durationMs };
      if (parsed.ok) return { ...result, body: parsed.value as T, durationMs };
      throw new DownstreamApiError(
        'api_invalid_response',
        `${method} ${where.path} of API '${this.name}' answered ${res.status} with a body that is not JSON.`,
        { ...where, status: res.status, body: text.slice(0, 2000) },
      );
    }
    const challenge = res.headers.get('www-authenticate') ?? undefined;
    const error = parseBearerChallenge(challenge)?.error;
    const context = {
      ...where,
      status: res.status,
      body: parsed.ok ? parsed.value : text.slice(0, 2000),
      challenge,
    };
    if (res.status === 403 && error === 'insufficient_scope') {
      throw new DownstreamApiError(
        'api_forbidden',
        `${method} ${where.path} of API '${this.name}' was refused: 403 insufficient_scope.`,
        context,
      );
    }
    if (res.status === 401) {
      throw new DownstreamApiError(
        'api_unauthorized',
        `${method} ${where.path} of API '${this.name}' refused the token: 401${error === undefined ? '' : ` ${error}`}.`,
        context,
      );
    }
    throw new DownstreamApiError(
      'api_error',
      `${method} ${where.path} of API '${this.name}' answered ${res.status}.`,
      context,
    );
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

/** Errors of the token service pass through as they are (they are typed already). */
function isOurs(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    'hint' in e
  );
}

function causeOf(e: unknown): string {
  const error = e as { message?: string; cause?: { code?: string; message?: string } } | undefined;
  return error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(e);
}

function withQuery(path: string, query: DownstreamCallOptions['query']): string {
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, String(v));
  const q = params.toString();
  return q === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${q}`;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

import type { AuthenticatedSender } from '../calling/authenticated-fetch';
import { DownstreamApiError, type DownstreamApiErrorContext } from '../calling/calling.errors';
import { parseBearerChallenge } from '../calling/challenge';
import type { AccessToken } from '../access-token';
import { ClientCredentialsError, TokenEndpointError } from '../errors/client-credentials.errors';
import { onAbort } from '../timing/timers';

/**
 * Per-call options of {@link DownstreamApi}.
 * @publicApi
 */
export interface DownstreamCallOptions {
  /** Query parameters, appended to the path. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Extra headers (`Authorization` is always the API's token). */
  headers?: Record<string, string>;
  /**
   * Ends the call: aborted before it, while its token is awaited or while the API answers, it
   * rejects with `DownstreamApiError` `api_aborted` (its `cause` the signal's reason).
   */
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
  /**
   * This call's agent identity (Entra Agent ID: an agent of the credential, a blueprint), by app
   * id or configured name, instead of the API's.
   * @default the API's `agent`
   */
  agent?: string;
  /**
   * This call's agent user (its UPN or object ID) of the call's agent, instead of the API's: the
   * call is made as that user, with delegated tokens. A call naming its own `agent` takes only
   * its own `agentUser` (the API's agent user is another agent's).
   * @default the API's `agentUser` (none when the call names its own `agent`)
   */
  agentUser?: string;
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
 * The end of one downstream call: the caller's signal, the API's timeout and the API's close()
 * joined on one controller, and detached from all three when the call ends — nothing long-lived
 * keeps a trace of it.
 */
export class CallDeadline {
  readonly #controller = new AbortController();
  readonly #caller?: AbortSignal;
  /** Stops listening to the caller's signal. */
  readonly #detach?: () => void;
  readonly #timer: NodeJS.Timeout;
  #timerFired = false;

  constructor(timeoutMs: number, caller?: AbortSignal) {
    this.#caller = caller;
    if (caller?.aborted) this.#controller.abort(caller.reason);
    else if (caller) this.#detach = onAbort(caller, () => this.#controller.abort(caller.reason));
    this.#timer = setTimeout(() => {
      this.#timerFired = !this.#controller.signal.aborted;
      // AbortSignal.timeout's reason, which fetch rejects with.
      this.#controller.abort(
        new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      );
    }, timeoutMs);
    // As AbortSignal.timeout's: the call's socket keeps the process up, not its deadline.
    this.#timer.unref();
  }

  /** Aborted by whichever comes first: the caller, the timeout, {@link abort}. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the call ended because its time was up (and not because its caller aborted it). */
  get timedOut(): boolean {
    return this.#timerFired && this.#caller?.aborted !== true;
  }

  /** Ends the call now (the API is closing). */
  abort(reason: unknown): void {
    this.#controller.abort(reason);
  }

  /** Detaches the call from the caller's signal and the timer. */
  end(): void {
    clearTimeout(this.#timer);
    this.#detach?.();
  }
}

/**
 * The typed error of a call that got no answer: the token service's own errors as they are, a
 * refused redirect as such, anything else `api_unreachable`. `timeoutMs` set: the call's time was
 * up — while it waited for a token, a `timeout` (the token service calls any end of a caller's
 * wait `aborted`, and the call's deadline aborts its signal), else the API's `api_unreachable`.
 */
export function exchangeFailure(
  e: unknown,
  api: string,
  where: DownstreamApiErrorContext,
  timeoutMs: number | undefined,
): Error {
  const { method, path } = where;
  if (timeoutMs !== undefined && e instanceof ClientCredentialsError && e.code === 'aborted') {
    return new TokenEndpointError(
      'timeout',
      `${method} ${path} of API '${api}' got no token within ${timeoutMs} ms (timeoutMs); the token request${e.credential === undefined ? '' : ` of credential '${e.credential}'`} carries on for other callers.`,
      { credential: e.credential, tenantId: e.tenantId, cause: e },
      true,
    );
  }
  // Not `instanceof Error`: an abort's reason is a DOMException, of another realm under jest.
  if (e instanceof DownstreamApiError || isOurs(e)) return e as Error;
  // The fetch's redirect failure (a TypeError, as fetch's): its typed cause, for this API.
  const cause = (e as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof DownstreamApiError && cause.code === 'redirect_refused') {
    return new DownstreamApiError(
      'redirect_refused',
      `${method} ${path} of API '${api}' failed: ${cause.message.split(' Hint: ')[0]}`,
      { ...where, status: cause.status, cause: e },
    );
  }
  return new DownstreamApiError(
    'api_unreachable',
    `${method} ${path} of API '${api}' ${timeoutMs !== undefined ? `did not answer within ${timeoutMs} ms` : `failed: ${causeOf(e)}`}.`,
    { ...where, cause: e },
  );
}

/**
 * A call its caller's signal ended — before it started, while it waited for its token, or while
 * the API answered: one code every time, its cause the signal's reason.
 */
export function callerAborted(
  api: string,
  where: DownstreamApiErrorContext,
  reason: unknown,
): DownstreamApiError {
  const { name, message } = (reason ?? {}) as { name?: unknown; message?: unknown };
  const said = [name, message].filter((s) => typeof s === 'string' && s !== '').join(': ');
  return new DownstreamApiError(
    'api_aborted',
    `${where.method} ${where.path} of API '${api}' was cancelled by its caller's signal${said === '' ? '' : ` (${said.slice(0, 200)})`}.`,
    { ...where, cause: reason },
  );
}

/** What {@link answerOf} needs to know of the call. */
export interface CallContext {
  readonly api: string;
  readonly where: DownstreamApiErrorContext;
  /** The path called, with its query. */
  readonly target: string;
  readonly maxResponseBytes: number;
  /** `performance.now()` when the call started. */
  readonly started: number;
}

/**
 * The result of an answer (2xx with JSON or no body), or its typed error: a body over the bound,
 * a body that is not JSON, a 401 or 403 `insufficient_scope` with the API's challenge, any other
 * status.
 * @throws DownstreamApiError
 */
export function answerOf<T>(
  exchange: Awaited<ReturnType<AuthenticatedSender>>,
  text: string | undefined,
  call: CallContext,
): DownstreamApiResult<T> {
  const { res, token, refused } = exchange;
  const { api, where } = call;
  const said = `${where.method} ${where.path} of API '${api}'`;
  if (text === undefined) {
    throw new DownstreamApiError(
      'api_response_too_large',
      `${said} answered ${res.status} with a body over ${call.maxResponseBytes} bytes (maxResponseBytes); it was not read further.`,
      { ...where, status: res.status },
    );
  }
  if (res.ok) {
    const parsed = parseJson(text);
    const result = {
      status: res.status,
      url: res.url.split('?')[0] || call.target.split('?')[0],
      token: { credential: token.credential, source: token.source, expiresOn: token.expiresOn },
      ...(refused === undefined ? {} : { refused }),
    };
    const durationMs = Math.round(performance.now() - call.started);
    if (text === '') return { ...result, body: undefined as T, durationMs };
    if (parsed.ok) return { ...result, body: parsed.value as T, durationMs };
    throw new DownstreamApiError(
      'api_invalid_response',
      `${said} answered ${res.status} with a body that is not JSON.`,
      { ...where, status: res.status, body: errorBody(text, token) },
    );
  }
  const challenge = res.headers.get('www-authenticate') ?? undefined;
  const error = parseBearerChallenge(
    challenge,
    token.tokenType === 'DPoP' ? 'DPoP' : 'Bearer',
  )?.error;
  const context = {
    ...where,
    status: res.status,
    body: errorBody(text, token),
    challenge,
  };
  if (res.status === 403 && error === 'insufficient_scope') {
    throw new DownstreamApiError(
      'api_forbidden',
      `${said} was refused: 403 insufficient_scope.`,
      context,
    );
  }
  if (res.status === 401) {
    throw new DownstreamApiError(
      'api_unauthorized',
      `${said} refused the token: 401${error === undefined ? '' : ` ${error}`}.`,
      context,
    );
  }
  throw new DownstreamApiError('api_error', `${said} answered ${res.status}.`, context);
}

/** The most of an API's error body a {@link DownstreamApiError} keeps, in characters. */
const MAX_ERROR_BODY_CHARS = 2000;

/**
 * The API's error body as an error keeps it: parsed JSON when it is JSON of at most
 * {@link MAX_ERROR_BODY_CHARS} characters, else its text cut there — an error is logged and
 * serialised whole, and must not carry megabytes. The token sent is cut out of it: an API that
 * echoes the request's headers (a debugging endpoint, a hostile server) would otherwise put it in
 * every log of the error.
 */
function errorBody(text: string, token: AccessToken): unknown {
  const shown = token.token === '' ? text : text.split(token.token).join('[redacted]');
  if (shown.length > MAX_ERROR_BODY_CHARS) return shown.slice(0, MAX_ERROR_BODY_CHARS);
  const parsed = parseJson(shown);
  return parsed.ok ? parsed.value : shown;
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

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

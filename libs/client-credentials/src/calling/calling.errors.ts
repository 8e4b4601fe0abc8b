import { parseBearerChallenge } from './challenge';

/**
 * Errors of authenticated calls to downstream APIs: what the API answered (status, its error body,
 * its `WWW-Authenticate` challenge) and which token request was involved — never the token.
 */

/** A row of the catalogue: why it happens and what to do. */
interface CallingErrorHint {
  readonly cause: string;
  readonly fix: string;
}

/** Stable codes of {@link DownstreamApiError} (`error.code`), with their cause and fix. */
export const CALLING_ERROR_CATALOG = {
  api_unauthorized: {
    cause:
      "The API refused the token (401) again after one fresh token, or sent a challenge the library cannot answer. A DPoP API's refusal of the proof (`use_dpop_nonce` again after the one re-send with its nonce, `invalid_dpop_proof`) gets a hint about the proof instead.",
    fix: "Check that the scope names this API's App ID URI and that the app is allowed to call it; read the API's error body.",
  },
  api_forbidden: {
    cause:
      'The API accepted the token but refused the call (403 insufficient_scope): the app lacks a role or permission. A new token would carry the same roles, so the call is not retried.',
    fix: "Grant the app the role the API requires (app role assignment / admin consent) and let its token refresh; read the API's error body.",
  },
  api_error: {
    cause: 'The API answered with an error status.',
    fix: "Read `status` and `body`: they are the API's own answer.",
  },
  api_unknown: {
    cause:
      '`DownstreamApis.get(name)` named an API that `DownstreamApiModule.forRoot()`/`forRootAsync()` does not configure.',
    fix: 'Use one of the configured names the message lists, or add the API to the module’s `apis`.',
  },
  api_invalid_response: {
    cause: 'The API answered 2xx with a body that is not JSON.',
    fix: 'Check that `baseUrl` points at the API and not at a proxy or error page.',
  },
  api_response_too_large: {
    cause:
      'The API answered with a body larger than `maxResponseBytes`: it was not read past that bound.',
    fix: 'Ask the API for less (paging, a filter), or raise `maxResponseBytes` of this API if such bodies are expected.',
  },
  api_unreachable: {
    cause: 'The API could not be reached (DNS, TCP, TLS, reset) or did not answer in time.',
    fix: 'Check `baseUrl`, the network and `timeoutMs`; for a private CA set `ca`.',
  },
  api_aborted: {
    cause:
      "The call's own `signal` ended it — aborted before it started, while it waited for its token, or while the API answered; or the caller's `AbortSignal.timeout()` was up. The API's own time (`timeoutMs`) is `api_unreachable` (or a token `timeout`), never this.",
    fix: 'Nothing to fix: the caller cancelled the call. `cause` is the signal’s reason (a `TimeoutError` for `AbortSignal.timeout()`); a token request under way carries on for other callers.',
  },
  api_closed: {
    cause:
      'The downstream API was closed (`close()`, application shutdown) while the call was in flight, or before it was made: calls in flight are aborted, not awaited.',
    fix: 'Nothing to fix at shutdown; otherwise stop calling the API once the application is closing.',
  },
  redirect_refused: {
    cause:
      "A redirect was not followed: more than `maxRedirects` in a row (a loop?), or any under `redirect: 'error'`. The authenticated fetch rejects like fetch does — TypeError('fetch failed') — with this error as its `cause`.",
    fix: "Check where the API redirects (a loop between two URLs, a login page); raise `maxRedirects` if the chain is expected, or leave `redirect: 'error'` out.",
  },
  origin_refused: {
    cause:
      "A request would have sent the API's token elsewhere: to another origin, outside the base URL's path (a relative path whose `..` — or `%2e%2e`, `..%2F` — leaves it: another API on the same gateway), over plain http, or to loopback without `allowInsecureLoopback`.",
    fix: 'Call paths under the API’s own `baseUrl` (https), and never build a path from input with `..` in it; a redirect to another origin is followed without the token.',
  },
} as const satisfies Record<string, CallingErrorHint>;

/** A stable code of {@link DownstreamApiError}. */
export type DownstreamApiErrorCode = keyof typeof CALLING_ERROR_CATALOG;

/**
 * The hint of a 401 whose challenge refuses the DPoP proof rather than the token: scopes and
 * consent have nothing to do with it.
 */
const DPOP_PROOF_REFUSED =
  "The API refused the DPoP proof (its nonce, its time or the URL it was signed for): check the host's clock, that no proxy rewrites the URL (scheme, host, path) on its way to the API, and the API's nonce handling (a new DPoP-Nonce with every answer is never accepted); read the API's error body.";

/** Errors of a challenge that refuse the DPoP proof sent with the token (RFC 9449 §7.1, §9). */
const PROOF_ERRORS: ReadonlySet<string> = new Set(['use_dpop_nonce', 'invalid_dpop_proof']);

/** The hint of an error of `code`: the catalogue's, or for a refused DPoP proof, one about it. */
function hintOf(code: DownstreamApiErrorCode, challenge: string | undefined): string {
  if (code === 'api_unauthorized') {
    const error =
      parseBearerChallenge(challenge, 'DPoP')?.error ??
      parseBearerChallenge(challenge, 'Bearer')?.error;
    if (error !== undefined && PROOF_ERRORS.has(error)) return DPOP_PROOF_REFUSED;
  }
  return CALLING_ERROR_CATALOG[code].fix;
}

/** What is known about a failed call. */
export interface DownstreamApiErrorContext {
  /** Name of the downstream API (configuration key), or the origin for unnamed calls. */
  api?: string;
  method?: string;
  /** URL path called (no query: it may hold data). */
  path?: string;
  status?: number;
  /**
   * The API's answer body: parsed JSON when it is JSON of at most 2,000 characters, else its text
   * cut to 2,000 characters; the token the call sent is replaced by `[redacted]` in it.
   */
  body?: unknown;
  /** The `WWW-Authenticate` challenge the API sent, if any. */
  challenge?: string;
  /** Correlation id of the token request whose token the API saw, if it was fetched for this call. */
  correlationId?: string;
  cause?: unknown;
}

/**
 * A call to a downstream API failed. `code` is stable, `hint` says how to fix it; `status` and
 * `body` are the API's own answer. Messages never contain a token.
 * @publicApi
 */
export class DownstreamApiError extends Error {
  readonly code: DownstreamApiErrorCode;
  readonly hint: string;
  readonly api?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly body?: unknown;
  readonly challenge?: string;
  readonly correlationId?: string;

  constructor(
    code: DownstreamApiErrorCode,
    message: string,
    context: DownstreamApiErrorContext = {},
  ) {
    const hint = hintOf(code, context.challenge);
    super(
      `${message} Hint: ${hint}`,
      context.cause === undefined ? undefined : { cause: context.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
    this.api = context.api;
    this.method = context.method;
    this.path = context.path;
    this.status = context.status;
    this.body = context.body;
    this.challenge = context.challenge;
    this.correlationId = context.correlationId;
  }
}

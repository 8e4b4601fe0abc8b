import type { AccessToken } from '../access-token';
import { ClientCredentialsError, ConfigurationError } from '../errors/client-credentials.errors';
import type { TokenService } from '../token.service';
import { targetOptions, type TokenTarget } from './challenge';
import { OriginPolicy } from './origin-policy';
import { isReplayableBody, tokenToResend } from './resend';
import { nonceAnswer, type ApiNonce } from './dpop-proof';
import { sendHops, type Hop, type HopTransport } from './fetch-hops';
import { inputOf, isRequest, withBody, type FetchInput } from './request-input';

/** The `fetch` this integration wraps: the global one, or undici's `fetch` (cast to this type: its types are undici's own). */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Options of {@link createAuthenticatedFetch}.
 * @publicApi
 */
export interface AuthenticatedFetchOptions extends TokenTarget {
  /**
   * The API's base URL: its origin is the only one its token is sent to (https). A relative path
   * (`items`, `/items`, `\items`: all `<baseUrl>/items`) must stay under its path once `.` and
   * `..` are resolved — `../payments`, `%2e%2e/x` or `..;/x` is refused (`origin_refused`) before
   * a token is fetched; an absolute URL (`https://…`) may name any path of its origin, and one of
   * another origin is refused. `orders:search` is a relative path, as axios reads it.
   */
  baseUrl: string;
  /**
   * Allow plain http to a loopback host (127.0.0.1, localhost, [::1]) — a local test API.
   * @default false
   */
  allowInsecureLoopback?: boolean;
  /** The fetch to wrap, e.g. undici's. @default globalThis.fetch */
  fetch?: FetchFunction;
  /**
   * Passed to every request as `dispatcher` (an undici `Agent` with a private CA, a proxy agent) —
   * but those that carry a token bound to a certificate (`mtls`), which go over the certificate's
   * own connections ({@link AuthenticatedFetchOptions.ca}).
   * @default none: the fetch's own
   */
  dispatcher?: unknown;
  /**
   * The CA certificate(s) (PEM) the API's TLS certificate is trusted through, besides the public
   * roots, on the connections that present the certificate a token is bound to (a credential with
   * `mtls`): the library makes those connections, one pool per certificate.
   * @default the public roots (and `NODE_EXTRA_CA_CERTS`)
   */
  ca?: string | string[];
  /**
   * Redirects followed. A redirect to another origin is followed without the token. One more —
   * or one whose `Location` is not an http(s) URL — rejects as fetch does,
   * `TypeError('fetch failed')`, its `cause` a `DownstreamApiError` `redirect_refused`.
   * @default 5
   */
  maxRedirects?: number;
}

/**
 * A `fetch` that authenticates to one API; `input` is a path under its base URL, a URL on it, or a
 * `Request` for one (its URL, method, headers, body, signal and redirect mode; `init`'s members
 * win, as in `new Request(input, init)`).
 */
export type AuthenticatedFetch = (
  input: string | URL | Request,
  init?: RequestInit,
) => Promise<Response>;

/** A response and how it was obtained: the token it was sent with, and the refusal it recovered from. */
export interface AuthenticatedExchange {
  readonly res: Response;
  /** The token of the last send. */
  readonly token: AccessToken;
  /** The first send's 401 challenge error (`invalid_token`, `insufficient_claims`) when re-sent. */
  readonly refused?: string;
}

/** {@link AuthenticatedFetch} that also says how the response was obtained (internal). */
export type AuthenticatedSender = (
  input: FetchInput,
  init?: RequestInit,
) => Promise<AuthenticatedExchange>;

/**
 * A `fetch` for one API with its token from the cache on every request:
 * - 401 `invalid_token`: one replacement token (shared by every caller refused the same token) and
 *   one re-send; 401 `insufficient_claims` (CAE): a token with the challenge's claims, one re-send;
 *   any other status, including 403, is returned as is;
 * - the token goes to the API's own origin only, over https; a redirect to another origin is
 *   followed without it;
 * - a bound token goes with what binds it: a DPoP proof of each request (`dpop`), or a connection
 *   presenting the credential's certificate (`mtls`, trusting {@link AuthenticatedFetchOptions.ca});
 * - a request whose body cannot be read twice (a stream, an async iterable) is not re-sent: its
 *   401 is returned, and the refused token is withdrawn so that the next request gets a new one;
 * - a 401 (or a DPoP nonce request) answering the GET a 303 led to — or a 301/302 of a POST —
 *   re-sends that GET, never the request the API already processed;
 * - redirects carry the caller's headers as fetch's do: none of the token's, and to another origin
 *   no `Cookie`, `Proxy-Authorization` or `Host`;
 * - a `Request` is taken as fetch takes it; its body is read into memory before the first send, so
 *   that it can be re-sent (pass a stream as `init.body` to send it unbuffered, once);
 * - `init.signal` ends the call as fetch's does, with the signal's reason (a `TimeoutError` for
 *   `AbortSignal.timeout()`), whether the request or its token was awaited.
 *
 * @example
 * const orders = createAuthenticatedFetch(tokens, { baseUrl: 'https://orders.contoso.com/api', scopes: 'api://orders/.default' });
 * const res = await orders('items?top=10');
 * @publicApi
 */
export function createAuthenticatedFetch(
  tokens: TokenService,
  options: AuthenticatedFetchOptions,
): AuthenticatedFetch {
  const send = createAuthenticatedSender(tokens, options);
  return async (input, init) => {
    try {
      return (await send(input, init)).res;
    } catch (e) {
      // fetch's contract: a call its signal ends rejects with the signal's reason (TimeoutError for
      // AbortSignal.timeout()) — also while it waits for its token, which the token service
      // reports as `aborted`.
      const signal = init?.signal ?? (isRequest(input) ? input.signal : undefined);
      if (signal?.aborted && e instanceof ClientCredentialsError && e.code === 'aborted') {
        throw signal.reason;
      }
      throw e;
    }
  };
}

/** The most redirects `maxRedirects` may allow (fetch's own limit is 20). */
const MAX_REDIRECTS = 20;

/**
 * {@link createAuthenticatedFetch}'s work, returning with the response the token used and the
 * refusal recovered from (for a caller that reports them, e.g. the downstream API client).
 * Not part of the public API.
 */
export function createAuthenticatedSender(
  tokens: TokenService,
  options: AuthenticatedFetchOptions,
  nonce: ApiNonce = {},
  /** Where an absolute URL may point ({@link OriginPolicy.absoluteUrls}). */
  absoluteUrls: 'origin' | 'base' = 'origin',
): AuthenticatedSender {
  const policy = new OriginPolicy(
    options.baseUrl,
    options.allowInsecureLoopback,
    undefined,
    absoluteUrls,
  );
  const maxRedirects = options.maxRedirects ?? 5;
  if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0 || maxRedirects > MAX_REDIRECTS) {
    // Like every options problem: the field and the fix, never the value.
    throw new ConfigurationError(
      [
        `maxRedirects: must be a whole number from 0 to ${MAX_REDIRECTS} — a redirect loop would otherwise be followed without end`,
      ],
      'createAuthenticatedFetch options',
    );
  }
  const target: TokenTarget = {
    scopes: options.scopes,
    credential: options.credential,
    tenantId: options.tenantId,
    agent: options.agent,
  };
  const transport: HopTransport = {
    tokens,
    policy,
    fetch: options.fetch ?? globalThis.fetch,
    // Not part of the DOM RequestInit type: undici's fetch (and Node's) read it.
    through: (options.dispatcher === undefined
      ? {}
      : { dispatcher: options.dispatcher }) as RequestInit,
    ca: options.ca,
    maxRedirects,
    nonce,
  };
  const sendWith = (start: Hop, init: RequestInit, token: AccessToken) =>
    sendHops(transport, start, init, token);

  return async (input, given = {}) => {
    const { target: where, init: named, request: asked } = inputOf(input, given);
    const url = policy.resolve(where, named.method);
    const init = await withBody(asked, named, given);
    const signal = init.signal ?? undefined;
    const first = await tokens.getAccessToken(target.scopes, targetOptions(target, { signal }));
    const request: Hop = {
      url,
      method: (init.method ?? 'GET').toUpperCase(),
      body: init.body,
      headers: new Headers(init.headers),
    };
    let sent = await sendWith(request, init, first);
    const noted = (token: AccessToken, sentNonce?: string) =>
      sent.carried &&
      nonceAnswer(token, sent.res.status, (n) => sent.res.headers.get(n), nonce, sentNonce);
    // Sent again — after a nonce request or a refused token — is the request the answer is to,
    // as it was: the caller's, or, after a hop that changed it (a 303 — or a 301/302 of a POST
    // — to a GET without body), that last hop. The hop's 303 says the POST was processed: it
    // must not go again (a second order), and the GET of its result is safe to repeat — handing
    // back the 401 would tell the caller that the POST failed, and a caller that retries it would
    // make the duplicate this avoids.
    const resend = sent.resend;
    // A DPoP API asking for (another) nonce: one re-send with it, same token (RFC 9449 §9).
    if (noted(first, sent.nonce) && resend !== undefined && isReplayableBody(resend.body)) {
      await sent.res.body?.cancel();
      sent = await sendWith(resend, init, first);
      noted(first);
    }
    const { res, carried } = sent;
    if (res.status !== 401) return { res, token: first };
    const again = sent.resend;
    const { token: next, error } = await tokenToResend(
      tokens,
      target,
      first,
      {
        challenge: res.headers.get('www-authenticate'),
        fromApi: carried,
        body: again?.body,
        resendable: again !== undefined,
      },
      signal,
    );
    if (next === undefined || again === undefined) return { res, token: first };
    await res.body?.cancel();
    sent = await sendWith(again, init, next);
    noted(next);
    return { res: sent.res, token: next, refused: error };
  };
}

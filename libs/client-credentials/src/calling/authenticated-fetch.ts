import type { AccessToken } from '../access-token';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import type { TokenService } from '../token.service';
import { DownstreamApiError } from './calling.errors';
import type { TokenTarget } from './challenge';
import { OriginPolicy } from './origin-policy';
import { isReplayableBody, tokenToResend } from './resend';
import { authorizationOf, nonceAnswer, type ApiNonce } from './dpop-proof';
import { REDIRECTS, redirectedMethod, redirectTarget } from './redirect-hop';

/** The `fetch` this integration wraps: the global one, or undici's `fetch` (cast to this type: its types are undici's own). */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Options of {@link createAuthenticatedFetch}.
 * @publicApi
 */
export interface AuthenticatedFetchOptions extends TokenTarget {
  /**
   * The API's base URL: its origin is the only one its token is sent to (https). Relative paths
   * resolve under it; an absolute URL of another origin is refused.
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

/** A `fetch` that authenticates to one API; `input` is a path under its base URL or a URL on it. */
export type AuthenticatedFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

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
  input: string | URL,
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
      const signal = init?.signal;
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
): AuthenticatedSender {
  const policy = new OriginPolicy(options.baseUrl, options.allowInsecureLoopback);
  const send = options.fetch ?? globalThis.fetch;
  const maxRedirects = options.maxRedirects ?? 5;
  if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0 || maxRedirects > MAX_REDIRECTS) {
    throw new InvalidRequestError(
      'options_invalid',
      `createAuthenticatedFetch option maxRedirects: must be a whole number from 0 to ${MAX_REDIRECTS}, not ${String(options.maxRedirects)} — a redirect loop would otherwise be followed without end.`,
    );
  }
  const target: TokenTarget = {
    scopes: options.scopes,
    credential: options.credential,
    tenantId: options.tenantId,
    agent: options.agent,
  };
  // Not part of the DOM RequestInit type: undici's fetch (and Node's) read it.
  const extra = (
    options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }
  ) as RequestInit;

  /**
   * Sends with the token, following redirects: the token only ever goes to the API's origin.
   * `carried`: whether the answer came from a hop that got the token (only such a 401 is about it).
   */
  const sendWith = async (
    url: URL,
    init: RequestInit,
    token: AccessToken,
  ): Promise<{ res: Response; carried: boolean; nonce?: string }> => {
    let current = url;
    let method = (init.method ?? 'GET').toUpperCase();
    let body = init.body;
    let carry = true;
    for (let redirects = 0; ; redirects++) {
      const headers = new Headers(init.headers);
      carry &&= policy.mayCarryToken(current);
      // The nonce this hop's proof is signed with (DPoP): a 401 asking for another one is re-sent.
      const sentNonce = nonce.value;
      // A certificate-bound token goes over a connection presenting its certificate.
      let through = extra;
      if (carry) {
        // A DPoP-bound token goes with a proof of this hop: its method and URL.
        const auth = authorizationOf(tokens, token, method, current, nonce);
        headers.set('authorization', auth.authorization);
        if (auth.dpop !== undefined) headers.set('dpop', auth.dpop);
        const certificate = tokens.boundCertificate(token);
        if (certificate !== undefined) {
          // Cast: the DOM type names the dispatcher of undici-types, not of undici.
          through = {
            dispatcher: certificate.dispatcher({ ca: options.ca }),
          } as unknown as RequestInit;
        }
      } else {
        headers.delete('authorization');
        if (token.tokenType === 'DPoP') headers.delete('dpop');
      }
      if (body === undefined) headers.delete('content-type');
      const res = await send(current, {
        ...init,
        ...through,
        method,
        body,
        headers,
        redirect: 'manual',
      });
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || location === null || init.redirect === 'manual') {
        // A fetch that followed redirects itself (ignoring 'manual') answers from wherever they
        // led: only its final URL says whether that hop got the token.
        return {
          res,
          carried: carry && (res.url === '' || policy.mayCarryToken(new URL(res.url))),
          nonce: sentNonce,
        };
      }
      const next = redirectTarget(location, current);
      // 307 and 308 keep method and body: a body that cannot be sent again (a stream the first
      // hop consumed) is not followed with nothing in its place — the same rule as a re-send.
      const spent =
        (res.status === 307 || res.status === 308) && body != null && !isReplayableBody(body);
      if (init.redirect === 'error' || redirects >= maxRedirects || next === undefined || spent) {
        await res.body?.cancel();
        // fetch's own contract (undici: TypeError 'fetch failed', cause 'redirect count exceeded',
        // 'unexpected redirect', 'Invalid URL' or 'URL scheme must be a HTTP(S) scheme'), which
        // callers test for; the cause says which, with a code.
        const asked = (init.method ?? 'GET').toUpperCase();
        const why =
          init.redirect === 'error'
            ? `Unexpected redirect (${res.status}) under redirect: 'error'`
            : spent
              ? `Redirect (${res.status}) of a request whose body cannot be sent again (a stream)`
              : next === undefined
                ? `Redirect (${res.status}) to a Location that is not an http(s) URL`
                : `Redirect count exceeded: more than ${maxRedirects} redirects (maxRedirects)`;
        const last = next === undefined ? '' : `, the last to ${next.pathname}`;
        throw new TypeError('fetch failed', {
          cause: new DownstreamApiError(
            'redirect_refused',
            `${why} for ${asked} ${url.pathname}${last}.`,
            { method: asked, path: url.pathname, status: res.status },
          ),
        });
      }
      await res.body?.cancel();
      current = next;
      const after = redirectedMethod(res.status, method);
      method = after.method;
      if (after.dropsBody) body = undefined;
    }
  };

  return async (input, init = {}) => {
    const url = policy.resolve(input, init.method);
    const signal = init.signal ?? undefined;
    const first = await tokens.getAccessToken(target.scopes, {
      credential: target.credential,
      tenantId: target.tenantId,
      agent: target.agent,
      signal,
    });
    let sent = await sendWith(url, init, first);
    const noted = (token: AccessToken, sentNonce?: string) =>
      sent.carried &&
      nonceAnswer(token, sent.res.status, (n) => sent.res.headers.get(n), nonce, sentNonce);
    // A DPoP API asking for (another) nonce: one re-send with it, same token (RFC 9449 §9).
    if (noted(first, sent.nonce) && isReplayableBody(init.body)) {
      await sent.res.body?.cancel();
      sent = await sendWith(url, init, first);
      noted(first);
    }
    const { res, carried } = sent;
    if (res.status !== 401) return { res, token: first };
    const { token: next, error } = await tokenToResend(
      tokens,
      target,
      first,
      { challenge: res.headers.get('www-authenticate'), fromApi: carried, body: init.body },
      signal,
    );
    if (next === undefined) return { res, token: first };
    await res.body?.cancel();
    sent = await sendWith(url, init, next);
    noted(next);
    return { res: sent.res, token: next, refused: error };
  };
}

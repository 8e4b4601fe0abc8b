import type { AccessToken } from '../access-token';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import type { TokenService } from '../token.service';
import { targetOptions, type TokenTarget } from './challenge';
import { OriginPolicy } from './origin-policy';
import { isReplayableBody, tokenToResend } from './resend';
import { authorizationOf, nonceAnswer, type ApiNonce } from './dpop-proof';
import {
  droppedOnRedirect,
  REDIRECTS,
  redirectedMethod,
  redirectRefused,
  redirectTarget,
} from './redirect-hop';
import { inputOf, isRequest, withBody, type FetchInput } from './request-input';

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
   * Sends `start` with the token, following redirects: the token only ever goes to the API's
   * origin, and the caller's headers go as fetch's own redirects carry them
   * ({@link droppedOnRedirect}), from hop to hop.
   */
  const sendWith = async (start: Hop, init: RequestInit, token: AccessToken): Promise<Sent> => {
    let current = start.url;
    let method = start.method;
    let body = start.body;
    const headers = new Headers(start.headers);
    if (body === undefined) headers.delete('content-type');
    let carry = true;
    let rewritten = false;
    for (let redirects = 0; ; redirects++) {
      const hopHeaders = new Headers(headers);
      carry &&= policy.mayCarryToken(current);
      // The nonce this hop's proof is signed with (DPoP): a 401 asking for another one is re-sent.
      const sentNonce = nonce.value;
      // A certificate-bound token goes over a connection presenting its certificate.
      let through = extra;
      if (carry) {
        // A DPoP-bound token goes with a proof of this hop: its method and URL.
        const auth = authorizationOf(tokens, token, method, current, nonce);
        hopHeaders.set('authorization', auth.authorization);
        if (auth.dpop !== undefined) hopHeaders.set('dpop', auth.dpop);
        const certificate = tokens.boundCertificate(token);
        if (certificate !== undefined) {
          // Cast: the DOM type names the dispatcher of undici-types, not of undici.
          through = {
            dispatcher: certificate.dispatcher({ ca: options.ca }),
          } as unknown as RequestInit;
        }
      } else {
        hopHeaders.delete('authorization');
        if (token.tokenType === 'DPoP') hopHeaders.delete('dpop');
      }
      const res = await send(current, {
        ...init,
        ...through,
        method,
        body,
        headers: hopHeaders,
        redirect: 'manual',
      });
      const last: Hop = { url: current, method, body, headers };
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || location === null || init.redirect === 'manual') {
        // A fetch that followed redirects itself (ignoring 'manual') answers from wherever they
        // led: only its final URL says whether that hop got the token, and nothing says how the
        // hops changed the request — one not safe to repeat is then not re-sent.
        const unseen = res.redirected && method !== 'GET' && method !== 'HEAD';
        return {
          res,
          carried: carry && (res.url === '' || policy.mayCarryToken(new URL(res.url))),
          nonce: sentNonce,
          resend: unseen ? undefined : rewritten ? last : start,
        };
      }
      // A 3xx of the API may rotate its DPoP nonce: the next hop's proof signs the new one.
      if (carry) nonceAnswer(token, res.status, (n) => res.headers.get(n), nonce, sentNonce);
      const next = redirectTarget(location, current);
      // 307 and 308 keep method and body: a body that cannot be sent again (a stream the first
      // hop consumed) is not followed with nothing in its place — the same rule as a re-send.
      const spent =
        (res.status === 307 || res.status === 308) && body != null && !isReplayableBody(body);
      if (init.redirect === 'error' || redirects >= maxRedirects || next === undefined || spent) {
        await res.body?.cancel();
        throw redirectRefused(start, res.status, next, spent, init.redirect, maxRedirects);
      }
      await res.body?.cancel();
      const after = redirectedMethod(res.status, method);
      if (after.dropsBody) body = undefined;
      for (const name of droppedOnRedirect(current, next, body === undefined)) {
        headers.delete(name);
      }
      rewritten ||= after.dropsBody;
      current = next;
      method = after.method;
    }
  };

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

/** One request of a call: the caller's, or a redirect hop (its headers without the token's). */
interface Hop {
  readonly url: URL;
  readonly method: string;
  readonly body: RequestInit['body'];
  readonly headers: Headers;
}

/** An answer, and what is known of the request it answers. */
interface Sent {
  readonly res: Response;
  /** Whether the answer came from a hop that got the token (only such a 401 is about it). */
  readonly carried: boolean;
  /** The DPoP nonce the answered hop's proof signed. */
  readonly nonce?: string;
  /**
   * The request to send again for this answer (another nonce, a new token): the caller's as it
   * was, or after a hop that changed it, that hop; none when unknown.
   */
  readonly resend?: Hop;
}

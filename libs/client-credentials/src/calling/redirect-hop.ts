import { DownstreamApiError } from './calling.errors';

/** The statuses fetch follows as redirects (with a `Location`). */
export const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Where a redirect leads, or undefined when fetch would not follow it: not a URL, not http(s). */
export function redirectTarget(location: string, from: URL): URL | undefined {
  let url: URL;
  try {
    url = new URL(location, from);
  } catch {
    return undefined;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
}

/**
 * The method of the request a redirect leads to, and whether it loses its body (fetch's rules):
 * after a 303 — and a 301 or 302 answering a POST — a GET (a HEAD stays a HEAD) without body;
 * 307 and 308 keep both.
 */
export function redirectedMethod(
  status: number,
  method: string,
): { method: string; dropsBody: boolean } {
  if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
    return { method: method === 'HEAD' ? 'HEAD' : 'GET', dropsBody: true };
  }
  return { method, dropsBody: false };
}

/** The headers of a body, which a hop without body does not carry (the Fetch standard's list). */
const BODY_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
];

/**
 * The caller's headers (lower case) a redirect hop from `from` to `to` drops, fetch's rules (the
 * Fetch standard's HTTP-redirect fetch; RFC 9110 §15.4), one rule for every integration that
 * follows redirects itself (fetch, axios's fetch adapter):
 * - `authorization` and `dpop`: the token's, written anew for each hop that may carry it;
 * - to another origin: this origin's credentials (`cookie`, `proxy-authorization`) and `host`;
 * - `bodyless` (the hop has no body: after a 303, a 301/302 of a POST, or none to begin with):
 *   the body's headers.
 * Applied to headers carried from hop to hop, so that what one hop dropped stays dropped.
 */
export function droppedOnRedirect(from: URL, to: URL, bodyless: boolean): ReadonlySet<string> {
  return new Set([
    'authorization',
    'dpop',
    ...(to.origin === from.origin ? [] : ['cookie', 'proxy-authorization', 'host']),
    ...(bodyless ? BODY_HEADERS : []),
  ]);
}

/**
 * A redirect the fetch does not follow, as fetch's own contract reports it (undici: TypeError
 * 'fetch failed', cause 'redirect count exceeded', 'unexpected redirect', 'Invalid URL' or 'URL
 * scheme must be a HTTP(S) scheme'), which callers test for; the cause says which, with a code.
 */
export function redirectRefused(
  request: { readonly method: string; readonly url: URL },
  status: number,
  next: URL | undefined,
  spent: boolean,
  redirect: RequestInit['redirect'],
  maxRedirects: number,
): TypeError {
  const why =
    redirect === 'error'
      ? `Unexpected redirect (${status}) under redirect: 'error'`
      : spent
        ? `Redirect (${status}) of a request whose body cannot be sent again (a stream)`
        : next === undefined
          ? `Redirect (${status}) to a Location that is not an http(s) URL`
          : `Redirect count exceeded: more than ${maxRedirects} redirects (maxRedirects)`;
  const last = next === undefined ? '' : `, the last to ${next.pathname}`;
  const { method, url } = request;
  return new TypeError('fetch failed', {
    cause: new DownstreamApiError(
      'redirect_refused',
      `${why} for ${method} ${url.pathname}${last}.`,
      { method, path: url.pathname, status },
    ),
  });
}

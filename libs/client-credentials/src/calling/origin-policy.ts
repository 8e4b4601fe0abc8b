import { DownstreamApiError } from './calling.errors';

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Where an API's token may go: its own origin, over https. Plain http only to a loopback host and
 * only when `allowInsecureLoopback` is set (a local test API); never to another host.
 */
export class OriginPolicy {
  /** The API's base URL, ending with `/` so that relative paths resolve under it. */
  readonly base: URL;

  constructor(
    baseUrl: string,
    readonly allowInsecureLoopback = false,
    readonly api?: string,
    /**
     * Where an absolute URL may point: any path of the origin (`createAuthenticatedFetch`: the
     * caller wrote the whole URL), or only under the base URL's path, as a relative path (a named
     * downstream API's `path`, often built from data: an id, a `nextLink`).
     */
    readonly absoluteUrls: 'origin' | 'base' = 'origin',
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw this.refused('is not a URL', undefined);
    }
    if (!this.secure(url)) {
      throw this.refused(
        `must be https${allowInsecureLoopback ? ' (or http to a loopback host)' : ''}`,
        undefined,
      );
    }
    if (url.username || url.password || url.search || url.hash) {
      throw this.refused('must not hold credentials, a query or a fragment', undefined);
    }
    this.base = new URL(url.href.endsWith('/') ? url.href : `${url.href}/`);
  }

  get origin(): string {
    return this.base.origin;
  }

  /**
   * The URL of `target`: a path relative to the base — which must stay under the base URL's path
   * once `.`/`..` are resolved — or an absolute http(s) URL on its origin: any path of it, or,
   * with `absoluteUrls: 'base'` (a named API's paths), one under the base URL's path as well.
   * Only `http://`, `https://` and `//` make a string absolute: `orders:search` or `mailto:x` is a
   * relative path (`<base>/orders:search`); another scheme with `//` (`ftp://x`) is refused.
   * @throws DownstreamApiError `origin_refused` for another origin, or a path that would leave the
   *   base URL's path (`../x`, `%2e%2e/x`, `items/../../x`, `..%2Fx`, `..;/x`)
   * @throws TypeError for anything but a string or a URL (an object would otherwise be sent to
   *   `<base>/[object Object]`, with the token)
   */
  resolve(target: string | URL, method?: string): URL {
    if (typeof target !== 'string' && typeof (target as Partial<URL> | null)?.href !== 'string') {
      throw new TypeError(
        `An authenticated fetch takes a path (a string), a URL or a Request, not ${target === null ? 'null' : typeof target}.`,
      );
    }
    const kind = typeof target === 'string' ? kindOf(target) : 'absolute';
    if (kind === 'other-scheme') {
      const scheme = /^[^:]*:/.exec(readAsUrl(target as string))?.[0];
      throw this.refused(
        `a request to a URL of scheme ${scheme} (not http or https) with the token`,
        {
          method,
        },
      );
    }
    // A relative path is joined as `./path`: WHATWG URL would read the `orders:` of
    // `orders:search` as a scheme. Its one leading `/` or `\` (which WHATWG URL reads as `/`) is
    // dropped, so that `/x` resolves under the base rather than at the origin's root.
    const text =
      kind === 'relative' ? `./${readAsUrl(target as string).replace(/^[/\\]/, '')}` : target;
    const url = new URL(text, this.base);
    if (url.origin !== this.origin) {
      throw this.refused(`the request to another origin (${url.origin}) would carry its token`, {
        method,
        path: url.pathname,
      });
    }
    if (kind !== 'absolute' || this.absoluteUrls === 'base') {
      this.checkUnder(url, this.base, method);
    }
    return url;
  }

  /**
   * Refuses `url` — a relative path joined to `base` by an HTTP client (axios's `baseURL` and
   * `url`) — when it is not under `base`'s path: the API's token must not reach another API
   * served on the same origin (a gateway, a path-routed ingress) through `..` in a path.
   * @throws DownstreamApiError `origin_refused`
   */
  checkUnder(url: URL, base: URL, method?: string): void {
    if (!isUnder(url, base)) {
      throw this.refused(
        `the request to ${url.pathname}, outside the base URL's path ${base.pathname}, would carry its token`,
        {
          method,
          path: url.pathname,
        },
      );
    }
  }

  /** Whether `url` may carry the token: the API's origin, https or allowed loopback http. */
  mayCarryToken(url: URL): boolean {
    return url.origin === this.origin && this.secure(url);
  }

  private secure(url: URL): boolean {
    return (
      url.protocol === 'https:' ||
      (this.allowInsecureLoopback && url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
    );
  }

  private refused(
    what: string,
    context: { method?: string; path?: string } | undefined,
  ): DownstreamApiError {
    const name = this.api === undefined ? 'the API' : `API '${this.api}'`;
    return new DownstreamApiError(
      'origin_refused',
      context === undefined ? `The base URL of ${name} ${what}.` : `Refused: ${what} of ${name}.`,
      { api: this.api, ...context },
    );
  }
}

/**
 * What a string passed as a request's target is: an absolute http(s) URL, a network-path
 * reference (`//host/x`, resolved against the base's scheme), a URL of another scheme with an
 * authority (`ftp://x`), or a relative path — anything else, `orders:search` (AIP-136 custom
 * methods) and `mailto:x` too. The test reads the string as WHATWG URL does (below) and follows
 * axios's `isAbsoluteURL` (`scheme://` or `//`), so the three integrations agree.
 */
function kindOf(target: string): 'absolute' | 'network' | 'other-scheme' | 'relative' {
  const text = readAsUrl(target);
  if (/^https?:[/\\]{2}/i.test(text)) return 'absolute';
  if (/^[/\\]{2}/.test(text)) return 'network';
  return /^[a-z][a-z\d+.-]*:[/\\]{2}/i.test(text) ? 'other-scheme' : 'relative';
}

/** `text` as WHATWG URL reads it: tabs and newlines anywhere, leading controls and spaces, dropped. */
function readAsUrl(text: string): string {
  // eslint-disable-next-line no-control-regex -- the C0 controls WHATWG URL strips
  return text.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+/, '');
}

/**
 * Whether `url`'s path is `base`'s path or under it, segment by segment (`/orders/api` does not
 * hold `/orders/apiX`), with no dot segment left that a server would follow out of it: one it
 * decodes `%2F`, `%5C` or `%2E` in before it normalises the path (`..%2Fx`), or one with path
 * parameters (`..;/x`, `%2e%2e;v=1/x`, `..%3Bx/`), which servlet containers (Tomcat, Jetty, Spring)
 * strip before they normalise — a path-routing gateway in front passes them on as they are.
 */
export function isUnder(url: URL, base: URL): boolean {
  const root = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const path = url.pathname;
  if (path === root.slice(0, -1)) return true;
  if (!path.startsWith(root)) return false;
  return !path
    .slice(root.length)
    .split(/\/|%2f|%5c/i)
    .some((segment) => /^(?:\.|%2e){1,2}(?:;|%3b|$)/i.test(segment));
}

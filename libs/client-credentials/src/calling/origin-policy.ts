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
   * The URL of `target` (a path relative to the base, or an absolute URL on its origin).
   * @throws DownstreamApiError `origin_refused` for another origin
   * @throws TypeError for anything but a string or a URL (an object would otherwise be sent to
   *   `<base>/[object Object]`, with the token)
   */
  resolve(target: string | URL, method?: string): URL {
    if (typeof target !== 'string' && typeof (target as Partial<URL> | null)?.href !== 'string') {
      throw new TypeError(
        `An authenticated fetch takes a path (a string), a URL or a Request, not ${target === null ? 'null' : typeof target}.`,
      );
    }
    const text = typeof target === 'string' ? target.replace(/^\/(?!\/)/, '') : target;
    const url = new URL(text, this.base);
    if (url.origin !== this.origin) {
      throw this.refused(`the request to another origin (${url.origin}) would carry its token`, {
        method,
        path: url.pathname,
      });
    }
    return url;
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

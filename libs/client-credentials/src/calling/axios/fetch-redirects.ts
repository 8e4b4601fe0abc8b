import type { AxiosResponse } from 'axios';
import { isReplayableBody } from '../resend';
import { droppedOnRedirect, REDIRECTS, redirectedMethod, redirectTarget } from '../redirect-hop';
import type { Config } from './call-state';

/** follow-redirects' default, which axios's http adapter applies when `maxRedirects` is unset. */
const DEFAULT_MAX_REDIRECTS = 21;

/**
 * Whether the interceptor follows the redirects of a request carrying a bound token itself, with
 * the fetch adapter told not to (`fetchOptions.redirect: 'manual'`, which the http adapter
 * ignores): fetch would send the first hop's DPoP proof — and the certificate's connections — to
 * every hop. Not when the app follows none (`maxRedirects: 0`) or set fetch's `redirect` itself.
 */
export function followsRedirects(
  config: Config,
  appFetchOptions: Record<string, unknown> | undefined,
): boolean {
  const theirs = appFetchOptions?.redirect;
  return config.maxRedirects !== 0 && (theirs === undefined || theirs === 'follow');
}

/** The request a redirect leads to: its URL, method, body and headers (without the token's). */
export interface RedirectHop {
  url: URL;
  method: string;
  data: unknown;
  headers: Record<string, unknown>;
}

/**
 * The next hop of a redirect the fetch adapter returned unfollowed (fetch's rules: at most
 * `maxRedirects`; after a 303 — and a 301/302 to a POST — a GET without body; 307/308 keep the
 * body, and are not followed with a body that cannot be sent again), or undefined: the 3xx is the
 * answer, as the app gets it under `redirect: 'manual'`.
 */
export function redirectHop(
  res: AxiosResponse,
  config: Config,
  from: URL,
): RedirectHop | undefined {
  const location = res.headers.location as unknown;
  if (!REDIRECTS.has(res.status) || typeof location !== 'string') return undefined;
  const url = redirectTarget(location, from);
  const hops = config.clientCredentials?.hops ?? 0;
  if (url === undefined || hops >= (config.maxRedirects ?? DEFAULT_MAX_REDIRECTS)) return undefined;
  const after = redirectedMethod(res.status, (config.method ?? 'get').toUpperCase());
  const data: unknown = after.dropsBody ? undefined : config.data;
  if (data != null && !isReplayableBody(data)) return undefined;
  // The interceptor writes a hop's token and proof; another origin gets neither.
  const headers: Record<string, unknown> = {};
  // As fetch does: another origin gets no credentials of this one, a hop without body none of
  // the body's headers (the rule shared with createAuthenticatedFetch).
  const drop = droppedOnRedirect(from, url, data === undefined);
  for (const [name, value] of Object.entries(config.headers.toJSON())) {
    if (!drop.has(name.toLowerCase())) headers[name] = value;
  }
  return { url, method: after.method, data, headers };
}

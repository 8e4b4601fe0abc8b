import type { AxiosResponse } from 'axios';
import type { Config } from './call-state';

/** What a re-send changes in the refused request's config: nothing, or its target (the last hop). */
export type Resend = Partial<Config>;

/**
 * What to re-send after the API refused `res`, the answer of `config`'s request: the request as
 * it is (`{}`), or — when a redirect that follow-redirects (the http adapter) followed rewrote it
 * (a 303, a 301/302 to a POST: a GET without body) — only the last hop, a body-less request of
 * its method to the URL that answered; undefined when that URL is unknown (the 401 is the answer).
 *
 * Why the last hop: a 303 says the API processed the request (RFC 9110 §15.4.4); sending it
 * again would repeat its effect (a second order). What the refusal is about is the hop it
 * answered, and re-sending that hop with the new token is what a browser-like client would end up
 * doing. Under the fetch adapter the interceptor follows such requests itself (each hop is a
 * request of its own, whose 401 re-sends that hop): its answers are never of a rewritten request.
 */
export function resendOf(
  config: Config,
  res: AxiosResponse,
  at: URL | undefined,
): Resend | undefined {
  const asked = (config.method ?? 'get').toUpperCase();
  // The http adapter's last ClientRequest (follow-redirects' hop), the fetch adapter's Request.
  const sent = (res.request as { method?: unknown } | null | undefined)?.method;
  if (typeof sent !== 'string' || sent.toUpperCase() === asked) return {};
  if (at === undefined) return undefined;
  // As follow-redirects sent the hop: without the body and its headers; the interceptor writes
  // the token (and the hop's proof).
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config.headers.toJSON())) {
    if (!/^(?:authorization|dpop|content-.*)$/i.test(name)) headers[name] = value;
  }
  return {
    url: at.href,
    allowAbsoluteUrls: true,
    // The URL that answered is whole: neither the call's params nor the instance's are added.
    params: undefined,
    paramsSerializer: { serialize: () => '' },
    method: sent.toUpperCase(),
    data: undefined,
    headers: headers as Config['headers'],
  };
}

/**
 * Releases an answer the interceptor discards (a refused 401, a 3xx it follows): read as a
 * stream (`responseType: 'stream'`), nobody else will read it, and its connection stays busy
 * until the server closes it — under a bounded agent the re-send waits for that socket. A Node
 * stream is destroyed (its socket closed), a web `ReadableStream` (fetch adapter) cancelled; a
 * body axios read already needs nothing.
 */
export function release(res: AxiosResponse): void {
  const data: unknown = res.data;
  if (typeof data !== 'object' || data === null) return;
  if (typeof (data as { destroy?: unknown }).destroy === 'function') {
    (data as { destroy: () => void }).destroy();
  } else if (data instanceof ReadableStream) {
    data.cancel().catch(() => undefined);
  }
}

import type { AxiosResponse } from 'axios';

/** A fetch as axios's fetch adapter calls it: with the `Request` it built, and its options. */
type Fetch = (...args: never[]) => Promise<{ url: string }>;

/** The final URL of each response axios's fetch adapter got, by the `Request` it sent. */
const finalUrls = new WeakMap<object, string>();
/** One wrapper per fetch, so that axios's cache of fetch adapters (per `env.fetch`) stays small. */
const wrappers = new WeakMap<Fetch, Fetch>();
const ours = new WeakSet<Fetch>();
/** The requests a {@link recordingFetch} sent: their answers are the fetch adapter's. */
const fetched = new WeakSet<object>();

/**
 * `fetch`, recording the final URL (after redirects) of each response by the request it answered:
 * axios's fetch adapter hands that request to the interceptors as `response.request`, never the
 * response's URL. Undefined without a fetch.
 */
export function recordingFetch<F extends Fetch>(fetch: F | undefined): F | undefined {
  if (typeof fetch !== 'function' || ours.has(fetch)) return fetch;
  let wrapper = wrappers.get(fetch);
  if (wrapper === undefined) {
    wrapper = async (...args: never[]) => {
      const input: unknown = args[0];
      if (typeof input === 'object' && input !== null) fetched.add(input);
      const res = await fetch(...args);
      if (typeof input === 'object' && input !== null && res.url) finalUrls.set(input, res.url);
      return res;
    };
    ours.add(wrapper);
    wrappers.set(fetch, wrapper);
  }
  return wrapper as F;
}

/**
 * The URL that answered `res`, after the redirects its adapter followed: the fetch adapter's
 * (recorded by {@link recordingFetch}), the http adapter's (follow-redirects' `responseUrl`) or
 * the xhr adapter's (`responseURL`); undefined when none says (no redirect was followed).
 */
export function answeredAt(res: AxiosResponse): URL | undefined {
  const request = res.request as
    { res?: { responseUrl?: unknown }; responseURL?: unknown } | undefined;
  if (request === null || typeof request !== 'object') return undefined;
  const url = finalUrls.get(request) ?? request.res?.responseUrl ?? request.responseURL;
  if (typeof url !== 'string' || url === '') return undefined;
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Whether `res` is the answer of a request sent by a {@link recordingFetch} (axios's fetch adapter). */
export function viaFetch(res: AxiosResponse): boolean {
  const request: unknown = res.request;
  return typeof request === 'object' && request !== null && fetched.has(request);
}

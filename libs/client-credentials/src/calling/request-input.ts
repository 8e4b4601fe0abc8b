/** What an authenticated fetch takes as its input: a path under the base URL, a URL, a `Request`. */
export type FetchInput = string | URL | Request;

/**
 * Whether `input` is a fetch `Request` — the global one or undici's own class (a package's
 * `Request` is not an instance of Node's global one), told by its members.
 */
export function isRequest(input: unknown): input is Request {
  if (typeof input !== 'object' || input === null || input instanceof URL) return false;
  const candidate = input as Partial<Request>;
  return (
    typeof candidate.url === 'string' &&
    typeof candidate.method === 'string' &&
    typeof candidate.headers === 'object' &&
    typeof candidate.arrayBuffer === 'function'
  );
}

/**
 * A call given as a `Request` (as openapi-fetch and ky call their `fetch`: `fetch(request, init)`),
 * as its URL and an `init` of its parts; `init`'s members win, as in `new Request(request, init)`
 * — its `headers` replace the request's, they are not merged. A string or URL input is returned
 * as it is.
 *
 * The request's body is a stream that can be read once, and a call may send it more than once (a
 * 307 hop, a re-send after a 401): it is read into memory before the first send, and then sent as
 * bytes — what `request.clone()` would cost too (a tee keeps every byte the unread branch has not
 * consumed), and without its one-send limit. A body to be streamed unbuffered goes as
 * `init.body` (a stream: sent once, never re-sent).
 */
export async function inputOf(
  input: FetchInput,
  init: RequestInit,
): Promise<{ target: string | URL; init: RequestInit }> {
  if (!isRequest(input)) return { target: input, init };
  const body =
    init.body !== undefined || input.body === null ? init.body : await input.arrayBuffer();
  return {
    target: input.url,
    init: {
      ...init,
      method: init.method ?? input.method,
      headers: init.headers ?? input.headers,
      body,
      signal: init.signal ?? input.signal,
      redirect: init.redirect ?? input.redirect,
    },
  };
}

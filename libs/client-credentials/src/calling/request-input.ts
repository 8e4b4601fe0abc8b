import { onAbort } from '../timing/timers';

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
 *
 * Two steps, so that the target is checked before anything is read: {@link inputOf} names the
 * target and the call's `init` without the body; {@link withBody} reads it, for no longer than the
 * call's signal allows (a body that never ends must not outlast the caller's timeout).
 */
export function inputOf(
  input: FetchInput,
  init: RequestInit,
): { target: string | URL; init: RequestInit; request?: Request } {
  if (!isRequest(input)) return { target: input, init };
  return {
    target: input.url,
    request: input,
    init: {
      ...init,
      method: init.method ?? input.method,
      headers: init.headers ?? input.headers,
      signal: init.signal ?? input.signal,
      redirect: init.redirect ?? input.redirect,
    },
  };
}

/**
 * `init` with the body of `request` (given as the input) read into memory, unless `init` has a
 * body of its own; the read stops, and rejects with the signal's reason, when `init.signal` aborts.
 */
export async function withBody(
  request: Request | undefined,
  init: RequestInit,
  given: RequestInit,
): Promise<RequestInit> {
  if (request === undefined || given.body !== undefined) return init;
  const stream = request.body;
  if (stream === null) return init;
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  // Cancelling the reader ends the read loop below (its next read is done).
  const stop =
    signal && onAbort(signal, () => void reader.cancel(signal.reason).catch(() => undefined));
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } finally {
    stop?.();
  }
  signal?.throwIfAborted();
  return { ...init, body: Buffer.concat(chunks) };
}

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

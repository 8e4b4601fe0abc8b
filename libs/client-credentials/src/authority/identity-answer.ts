import type { NetworkResponse } from '@azure/msal-node';
import { AuthorityFailure } from '../errors/authority-failure';
import type { ManagedIdentityHost } from './managed-identity-hosts';
import type { TextResponse } from './text-request';
import { failureFromError, retryAfterMs } from './token-response';

/**
 * What a managed identity endpoint's answer means, decided on its status before its body. The
 * endpoint's address may belong to something else: off Azure, 169.254.169.254 is another cloud's
 * metadata service, which answers the IMDS path in its own way (AWS IMDSv1: 404 HTML; AWS
 * IMDSv2-only: 401 with no body; GCP: 403 text). An answer that is no managed identity answer at
 * all means "no managed identity endpoint here" (`not_managed_identity`: the source is unavailable
 * and a chain moves on, without retries), never a protocol error of an authority.
 *
 * - A 3xx: no endpoint of ours redirects; not followed.
 * - 410 (IMDS maintenance) whatever its body: passed on, for the maintenance wait and msal.
 * - 429, 5xx whatever their body, a 408 without one: a transient failure of the endpoint (the
 *   token path retries it with backoff; a 408 with a body is msal's to retry).
 * - Arc's 401 challenge (`WWW-Authenticate`): passed on, for msal to answer it.
 * - Any other answer: passed on when it is a JSON object with `access_token`, `error` (OAuth and
 *   IMDS) or `message` (App Service's `{statusCode, message, correlationId}`); else not one.
 * @throws AuthorityFailure
 */
export function identityAnswer<T>(
  answer: TextResponse,
  host: ManagedIdentityHost,
): NetworkResponse<T> {
  const { status, headers, text } = answer;
  const body = jsonObject(text);
  const endpoint = `the ${host} endpoint`;
  if (status >= 300 && status < 400) {
    throw notManagedIdentity(host, status, `(a redirect${whereTo(headers.location)})`);
  }
  if (status === 410) {
    const gone = { error: 'gone', error_description: `${endpoint} answered HTTP 410 (Gone)` };
    return { status, headers, body: (isIdentityBody(body) ? body : gone) as T };
  }
  const transient = status === 429 || status >= 500;
  if (transient && body !== undefined) throw failureFromError(status, headers, body, endpoint);
  if (transient || (status === 408 && !isIdentityBody(body))) {
    throw new AuthorityFailure(
      status === 429 ? 'throttled' : 'endpoint_unavailable',
      { status, retryAfterMs: retryAfterMs(headers) },
      `${endpoint} answered HTTP ${status} (${contentType(headers)}, ${text.length} bytes)`,
    );
  }
  if (status === 401 && host === 'azure-arc' && headers['www-authenticate'] !== undefined) {
    return { status, headers, body: (body ?? {}) as T };
  }
  if (isIdentityBody(body)) return { status, headers, body: body as T };
  const what =
    body === undefined
      ? `(${contentType(headers)}, ${text.length} bytes)`
      : '(a JSON object without access_token or error)';
  throw notManagedIdentity(host, status, what);
}

function notManagedIdentity(host: ManagedIdentityHost, status: number, what: string) {
  return new AuthorityFailure(
    'not_managed_identity',
    { status },
    `the ${host} endpoint's address answered HTTP ${status} ${what}, which is no managed identity answer: another service is there (another cloud's metadata service?)`,
  );
}

/** The JSON object of `text`, or undefined. */
function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // not JSON
  }
  return undefined;
}

function isIdentityBody(body: Record<string, unknown> | undefined): boolean {
  return body !== undefined && ('access_token' in body || 'error' in body || 'message' in body);
}

function contentType(headers: Record<string, string>): string {
  return headers['content-type']?.split(';')[0] ?? 'no content type';
}

/** ` to <origin+path>` of a Location (never its query, which may carry anything), if readable. */
export function whereTo(location: string | undefined, base?: string): string {
  if (location === undefined) return '';
  try {
    const u = new URL(location, base);
    return ` to ${u.origin}${u.pathname}`;
  } catch {
    return '';
  }
}

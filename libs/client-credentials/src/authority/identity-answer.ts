import type { NetworkResponse } from '@azure/msal-node';
import { AuthorityFailure } from '../errors/authority-failure';
import type { ManagedIdentityHost } from './managed-identity-hosts';
import type { TextResponse } from './text-request';
import { failureFromError, retryAfterMs } from './token-response';

/**
 * What one call's answers have been: whether the last one reached msal under a stand-in body. The
 * managed identity client reads it when msal gives up, to tell "nothing here is a managed identity
 * endpoint" from an endpoint's own error.
 */
export interface AnswerTrail {
  /** The last answer, when it was no managed identity answer passed on for msal to retry. */
  unrecognised?: { status: number; what: string };
  /** How many answers in a row were such. */
  count: number;
}

/**
 * What a managed identity endpoint's answer means, decided on its status before its body. The
 * endpoint's address may belong to something else: off Azure, 169.254.169.254 is another cloud's
 * metadata service, which answers the IMDS path in its own way (AWS IMDSv1: 404 HTML; AWS
 * IMDSv2-only: 401 with no body; GCP: 403 text). "No managed identity endpoint here"
 * (`not_managed_identity`: the source is unavailable and a chain moves on) is decided on a positive
 * sign only, never because one answer has an unexpected body: a genuine IMDS answers a 404 while
 * it is being updated (Azure: "retry"), and a sidecar such as AKS pod identity's NMI may answer
 * text while it starts.
 *
 * - A 3xx: no endpoint of ours redirects; not followed: not one.
 * - 410 (IMDS maintenance) whatever its body: passed on, for the maintenance wait and msal.
 * - 429, 5xx whatever their body: a transient failure of the endpoint (the token path retries it
 *   with backoff).
 * - Arc's 401 challenge (`WWW-Authenticate`): passed on, for msal to answer it.
 * - A JSON object with `access_token`, `error` (OAuth and IMDS) or `message` (App Service's
 *   `{statusCode, message, correlationId}`): a managed identity answer, passed on.
 * - At IMDS's address, an answer signed by another cloud's metadata service (AWS's
 *   `Server: EC2ws`, GCP's `Metadata-Flavor: Google`): not one, at once.
 * - Another 404 or 408 (the statuses msal retries itself, 3 times): passed on with a stand-in
 *   error body and recorded in `trail`, so that msal retries it as it would a JSON one; when msal
 *   gives up on such an answer, the managed identity client reports `not_managed_identity`.
 * - Any other answer (a text 401 or 403, a 200 that is no token): not one, at once — no retry of
 *   msal's would follow it either.
 * @throws AuthorityFailure
 */
export function identityAnswer<T>(
  answer: TextResponse,
  host: ManagedIdentityHost,
  trail: AnswerTrail = { count: 0 },
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
  if (transient) {
    throw new AuthorityFailure(
      status === 429 ? 'throttled' : 'endpoint_unavailable',
      { status, retryAfterMs: retryAfterMs(headers) },
      `${endpoint} answered HTTP ${status} (${contentType(headers)}, ${text.length} bytes)`,
    );
  }
  if (status === 401 && host === 'azure-arc' && headers['www-authenticate'] !== undefined) {
    return { status, headers, body: (body ?? {}) as T };
  }
  if (isIdentityBody(body)) {
    trail.unrecognised = undefined;
    trail.count = 0;
    return { status, headers, body: body as T };
  }
  const what =
    body === undefined
      ? `(${contentType(headers)}, ${text.length} bytes)`
      : '(a JSON object without access_token or error)';
  const signature = host === 'imds' ? foreignSignature(headers) : undefined;
  if (signature !== undefined) {
    throw notManagedIdentity(host, status, `${what} signed ${signature}`);
  }
  if (status === 404 || status === 408) {
    trail.unrecognised = { status, what };
    trail.count += 1;
    const standIn = {
      error: `http_${status}`,
      error_description: `${endpoint} answered HTTP ${status} ${what}`,
    };
    return { status, headers, body: standIn as T };
  }
  throw notManagedIdentity(host, status, what);
}

/**
 * The failure to report when msal gave up on the answers of `trail` (each no managed identity
 * answer): none of its retries met a managed identity endpoint.
 */
export function unrecognisedAnswers(
  trail: AnswerTrail,
  host: ManagedIdentityHost,
): AuthorityFailure | undefined {
  const last = trail.unrecognised;
  if (last === undefined) return undefined;
  const times = trail.count === 1 ? '' : ` ${trail.count} times in a row`;
  return notManagedIdentity(host, last.status, `${last.what}${times}`);
}

/**
 * Headers by which another cloud's metadata service at IMDS's address names itself: AWS's
 * instance metadata service answers with `Server: EC2ws`; GCP's metadata server adds
 * `Metadata-Flavor: Google` to every answer.
 */
function foreignSignature(headers: Record<string, string>): string | undefined {
  if (/^EC2ws\b/i.test(headers.server ?? '')) return 'Server: EC2ws (AWS)';
  if (/^google$/i.test(headers['metadata-flavor'] ?? '')) return 'Metadata-Flavor: Google (GCP)';
  return undefined;
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

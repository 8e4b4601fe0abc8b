/* Which extra token request parameters and headers a credential may set (`tokenRequest`). */

/**
 * Form parameters the protocol owns: msal-node (or an agent's flow) sets them, and one of a
 * configuration's or a hook's must never replace them — a `client_id` or `scope` of the app's
 * choosing would get a token of another client or resource cached under this one's name.
 */
export const RESERVED_PARAMETERS: ReadonlySet<string> = new Set([
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'grant_type',
  'scope',
  'claims',
  'client_info',
  'client-request-id',
  'fmi_path',
  'assertion',
  'user_federated_identity_credential',
  'username',
  'user_id',
  'requested_token_use',
  'refresh_token',
  'code',
  'password',
]);

/** Headers the HTTP client or the client authentication owns. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'content-type',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'client-request-id',
]);

/** RFC 7230 `token`: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * What a parameter name may be: ASCII letters, digits and `_ . - : [ ]`. A name that only looks
 * like a reserved one (`client_ıd`, `ſcope`: a server folding case the .NET way reads them as
 * `client_id`, `scope`) passes no lower-casing check; outside ASCII none is let through.
 */
const PARAMETER_NAME = /^[A-Za-z0-9_.:[\]-]+$/;

/**
 * What is wrong with extra parameters or headers, as `field.name: …` lines (never their values);
 * empty when nothing is.
 */
export function parameterProblems(parameters: unknown, kind: 'parameters' | 'headers'): string[] {
  if (parameters === undefined) return [];
  if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) {
    return [`${kind}: must be an object of names to string values`];
  }
  const problems: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    const lower = name.toLowerCase();
    const shown = JSON.stringify(name.slice(0, 60));
    if (kind === 'parameters' && (RESERVED_PARAMETERS.has(lower) || lower.startsWith('x-client-')))
      problems.push(
        `${kind}.${shown}: is the protocol's own parameter — the library sets it; remove it`,
      );
    else if (
      kind === 'headers' &&
      (RESERVED_HEADERS.has(lower) || lower.startsWith('x-client-') || !HEADER_NAME.test(name))
    )
      problems.push(`${kind}.${shown}: cannot be set — use another header name`);
    else if (name === '') problems.push(`${kind}: has an empty name`);
    else if (kind === 'parameters' && !PARAMETER_NAME.test(name))
      problems.push(
        `${kind}.${shown}: must be ASCII letters, digits and _ . - : [ ] — use the name the issuer documents`,
      );
    else if (typeof value !== 'string') problems.push(`${kind}.${shown}: must be a string`);
    else if (kind === 'headers' && /[\r\n\0]/.test(value))
      problems.push(`${kind}.${shown}: must not contain line breaks`);
  }
  return problems;
}

// What an authority's answer means: a token answer checked before msal-node sees it, an error
// answer classified by its cause, and the times of an issued token checked whatever its source.
import { AuthorityFailure, type AuthorityFailureDetail } from '../errors/authority-failure';
import { jwtClaims } from './jwt-claims';
import type { IssuedToken } from './source-client';

/** The longest token lifetime accepted (7 days); Entra's are 60–90 minutes, 24 h at most. */
const MAX_EXPIRES_IN_SECONDS = 7 * 24 * 3600;

/** The longest token lifetime accepted from any source, or read from any store, in ms. */
export const MAX_LIFETIME_MS = MAX_EXPIRES_IN_SECONDS * 1000;

/**
 * The JSON object of an answer. Anything else fails as the status says (a 5xx or 429 body of a
 * proxy's HTML page is an outage, not a protocol error): msal-node would turn `{}` into a token.
 * @throws AuthorityFailure
 */
export function parseJson(text: string, status: number, headers: Record<string, string>): unknown {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  const kind =
    status >= 500 ? 'endpoint_unavailable' : status === 429 ? 'throttled' : 'invalid_response';
  const type = headers['content-type']?.split(';')[0] ?? 'no content type';
  throw new AuthorityFailure(
    kind,
    { status, retryAfterMs: retryAfterMs(headers) },
    `the authority answered HTTP ${status} with a body that is not a JSON object (${type}, ${text.length} bytes)`,
  );
}

/**
 * Refuses a redirect (3xx) before its body is read: undici does not follow it, and neither does
 * the library — the secret or assertion of a token request must never go to a `Location`. Named
 * by the origin and path it points at (its query may carry anything).
 * @throws AuthorityFailure `redirected`
 */
export function refuseRedirect(status: number, headers: Record<string, string>, url: string): void {
  if (status < 300 || status >= 400) return;
  let target = 'an address it does not name (no Location)';
  try {
    if (headers.location !== undefined) {
      const to = new URL(headers.location, url);
      target = `${to.origin}${to.pathname}`;
    }
  } catch {
    target = 'an address that is no URL';
  }
  const from = new URL(url);
  throw new AuthorityFailure(
    'redirected',
    { status, correlationId: headers['client-request-id'] },
    `${from.origin}${from.pathname} answered HTTP ${status}, a redirect to ${target}, which is never followed`,
  );
}

/** The `token_type` of an answer: `DPoP` (RFC 9449) and Entra's `mtls_pop` are bound tokens. */
export type BoundTokenType = 'Bearer' | 'DPoP' | 'mtls_pop';

/**
 * An OIDC issuer's 200 answer without `expires_in` (RFC 6749 §5.1: RECOMMENDED, not REQUIRED),
 * given the lifetime its access token's `exp` says (a JWT; seconds from now, bounded as
 * `expires_in` is) so that msal and {@link checkTokenResponse} read it. Entra always sends
 * `expires_in`: its answers are not passed here. Any other answer is left as it is.
 * @throws AuthorityFailure `invalid_response` when there is neither
 */
export function lifetimeFromToken(
  answer: { status: number; headers: Record<string, string>; body: unknown },
  wallTime = Date.now(),
): void {
  const b = answer.body as Record<string, unknown> | undefined;
  if (answer.status !== 200 || typeof b !== 'object' || b === null) return;
  if (b.expires_in !== undefined && b.expires_in !== null) return;
  if (typeof b.access_token !== 'string') return;
  const exp = jwtClaims(b.access_token)?.exp;
  const seconds = typeof exp === 'number' ? Math.floor(exp - wallTime / 1000) : undefined;
  if (seconds !== undefined && isLifetime(seconds)) {
    b.expires_in = seconds;
    return;
  }
  throw new AuthorityFailure(
    'invalid_response',
    { status: 200, correlationId: answer.headers['client-request-id'] },
    seconds === undefined
      ? 'the token response has no expires_in, and its access_token is not a JWT with an exp claim: nothing says how long the token lives (RFC 6749 §5.1) — have the issuer send expires_in'
      : `the token response has no expires_in, and its access_token's exp is ${seconds} s from now: expected 1 to ${MAX_EXPIRES_IN_SECONDS} seconds`,
  );
}

/**
 * Checks a 200 token answer: a token a header can carry, the `token_type` asked for (`Bearer`;
 * `DPoP` for a request with a proof, `mtls_pop` for Entra's mTLS PoP) and a lifetime of 1 s to 7 days.
 * @throws AuthorityFailure `invalid_response`; `unbound` when a bound token was asked for and a
 * Bearer one came
 */
export function checkTokenResponse(
  body: unknown,
  headers: Record<string, string>,
  tokenType: BoundTokenType = 'Bearer',
): void {
  const b = body as Record<string, unknown>;
  const type = typeof b.token_type === 'string' ? b.token_type.toLowerCase() : undefined;
  const said = JSON.stringify(String(b.token_type)).slice(0, 40);
  const problem =
    typeof b.access_token !== 'string' || b.access_token.length === 0
      ? 'has no access_token'
      : !isBearerText(b.access_token)
        ? 'has an access_token with characters a bearer token cannot have'
        : type !== tokenType.toLowerCase()
          ? `has token_type ${said} instead of ${tokenType}`
          : !isLifetime(b.expires_in)
            ? `has an invalid expires_in (${JSON.stringify(b.expires_in ?? null).slice(0, 40)}): expected 1 to ${MAX_EXPIRES_IN_SECONDS} seconds`
            : undefined;
  if (problem) {
    // RFC 9449 §5: an authorization server may ignore the proof and issue a bearer token.
    const unbound = tokenType !== 'Bearer' && type === 'bearer';
    throw new AuthorityFailure(
      unbound ? 'unbound' : 'invalid_response',
      { status: 200, correlationId: headers['client-request-id'] },
      unbound
        ? tokenType === 'DPoP'
          ? 'the authority ignored the DPoP proof and issued a bearer token (token_type Bearer), which is not bound to the key'
          : 'the authority issued a bearer token (token_type Bearer) where mtls_pop was asked for, which is not bound to the certificate'
        : `the token response ${problem}`,
    );
  }
}

/**
 * Checks that a token issued over a connection presenting a client certificate is bound to it
 * (RFC 8705 §3): a JWT access token names the certificate's thumbprint in `cnf.x5t#S256`; an
 * opaque one cannot be read, and is taken as bound when the authority's metadata says it binds
 * tokens (`tls_client_certificate_bound_access_tokens`; Entra's `mtls_pop` tokens always are).
 * A token bound to no certificate would work for whoever holds it: it is refused, never cached.
 * @throws AuthorityFailure `unbound`
 */
export function checkCertificateBinding(
  token: string,
  thumbprint: string,
  bindsOpaqueTokens: boolean,
  correlationId?: string,
): void {
  const cnf = jwtConfirmation(token, 'x5t#S256');
  const problem =
    cnf === undefined
      ? bindsOpaqueTokens
        ? undefined
        : 'its metadata does not say it binds tokens to certificates (tls_client_certificate_bound_access_tokens) and the token is not a JWT naming one'
      : cnf === null
        ? 'the token names no certificate (no cnf.x5t#S256): it is a bearer token'
        : cnf !== thumbprint
          ? 'the token is bound to another certificate than the one presented (cnf.x5t#S256)'
          : undefined;
  if (problem === undefined) return;
  throw new AuthorityFailure(
    'unbound',
    { status: 200, correlationId },
    `the authority did not bind the token to the client certificate: ${problem}`,
  );
}

/**
 * Checks that a DPoP token is bound to the key whose proof asked for it (RFC 9449 §6): a JWT
 * access token names the key's thumbprint in `cnf.jkt`. An opaque one cannot be read (its
 * `token_type: DPoP` was checked). A JWT bound to another key, or to none, would not be accepted
 * with our proofs — or would work for whoever holds it: it is refused, never cached.
 * @throws AuthorityFailure `unbound`
 */
export function checkKeyBinding(token: string, jkt: string, correlationId?: string): void {
  const cnf = jwtConfirmation(token, 'jkt');
  if (cnf === undefined || cnf === jkt) return;
  throw new AuthorityFailure(
    'unbound',
    { status: 200, correlationId },
    `the authority did not bind the token to the DPoP key: ${
      cnf === null
        ? 'the token names no key (no cnf.jkt)'
        : 'the token is bound to another key than the one of the proof (cnf.jkt)'
    }`,
  );
}

/**
 * A confirmation member (`cnf.x5t#S256`, `cnf.jkt`) of a JWT access token: its value, null for a
 * JWT without one, undefined for a token that is not a JWT (opaque).
 */
function jwtConfirmation(token: string, member: 'x5t#S256' | 'jkt'): string | null | undefined {
  const claims = jwtClaims(token);
  if (claims === undefined) return undefined;
  const value = (claims.cnf as Record<string, unknown> | undefined)?.[member];
  return typeof value === 'string' ? value : null;
}

function isLifetime(value: unknown): boolean {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 1 && n <= MAX_EXPIRES_IN_SECONDS;
}

/** Retry-After in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(headers: Record<string, string>): number | undefined {
  const value = headers['retry-after'];
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error']);

/** An error answer of the authority (token endpoint or discovery), classified by its cause. */
export function failureFromError(
  status: number,
  headers: Record<string, string>,
  body: unknown,
  what = 'the token endpoint',
): AuthorityFailure {
  const b = body as Record<string, unknown>;
  const description = typeof b.error_description === 'string' ? b.error_description : undefined;
  const codes = Array.isArray(b.error_codes) ? b.error_codes : [];
  const aadsts =
    typeof codes[0] === 'number'
      ? codes[0]
      : Number(/^AADSTS(\d+)/.exec(description ?? '')?.[1]) || undefined;
  const detail: AuthorityFailureDetail = {
    status,
    retryAfterMs: retryAfterMs(headers),
    oauthError: typeof b.error === 'string' ? b.error.slice(0, 100) : undefined,
    description: description?.split(/\r?\n/)[0].trim().slice(0, 400),
    aadsts,
    traceId: typeof b.trace_id === 'string' ? b.trace_id.slice(0, 100) : undefined,
    correlationId:
      typeof b.correlation_id === 'string'
        ? b.correlation_id.slice(0, 100)
        : headers['client-request-id'],
  };
  const kind =
    status === 429 || aadsts === 50196
      ? 'throttled'
      : status >= 500 || TRANSIENT_OAUTH_ERRORS.has(detail.oauthError ?? '')
        ? 'endpoint_unavailable'
        : 'rejected';
  const said = detail.description ?? detail.oauthError ?? 'no error description';
  return new AuthorityFailure(kind, detail, `${what} answered HTTP ${status}: ${said}`);
}

/**
 * `issued`, when its token and times make sense: every source's answer goes through here (msal
 * turns a managed identity endpoint's `expires_on` of 1e20 into an Invalid Date, whose NaN would
 * make a token served forever and stall the refresh schedule; a token with a line break would make
 * a header's error message carry it).
 * @throws AuthorityFailure `invalid_response`
 */
export function checkIssued(issued: IssuedToken, requestedAt: number): IssuedToken {
  const { expiresOn } = issued;
  const problem = !isBearerText(issued.token)
    ? 'a token with characters a bearer token cannot have'
    : !Number.isFinite(expiresOn)
      ? 'no valid expiry'
      : expiresOn <= requestedAt
        ? 'an expiry in the past'
        : expiresOn > requestedAt + MAX_LIFETIME_MS
          ? 'an expiry more than 7 days ahead'
          : undefined;
  if (problem === undefined) return issued;
  throw new AuthorityFailure(
    'invalid_response',
    { correlationId: issued.correlationId },
    `the token answer has ${problem}`,
  );
}

/**
 * Whether `token` is text an `Authorization` header can carry as a bearer token: visible ASCII
 * only (RFC 6750's b64token and then some), at least one character.
 */
export function isBearerText(token: unknown): token is string {
  return typeof token === 'string' && /^[\x21-\x7E]+$/.test(token);
}

import { AuthError, ServerError } from '@azure/msal-node';
import { AuthorityFailure } from './authority-failure';
import { foreignText, thrownText } from './foreign-text';
import {
  ClientCredentialsError,
  ErrorContext,
  TokenEndpointError,
  TokenRequestRejectedError,
} from './client-credentials.errors';
import { isHostFailure, markHostFailure } from './host-failure';

/**
 * AADSTS numbers that mean "this credential is not accepted", not "this request is wrong", checked
 * against Microsoft's error code reference (and, for 700021 and 700023, the Azure SDK
 * troubleshooting guides for client assertions): a chain moves on to its next source after them.
 */
export const CREDENTIAL_AADSTS: ReadonlySet<number> = new Set([
  // secrets, certificates
  7000215, 7000222, 700027, 7000274, 7000277, 1000502, 7000214, 50012, 700030, 70002,
  // client assertions: time range, made for another app, sub ≠ iss, audience not this tenant
  700024, 700021, 50048, 700023,
  // federated credentials
  70021, 700211, 700212, 700213, 7000112,
]);

/**
 * Turns whatever a token request threw (our network client's AuthorityFailure, an msal error,
 * an error of ours) into one typed {@link ClientCredentialsError} naming credential and tenant.
 * Its `retryAfterMs` is what the library honours: the authority's, at most `maxRetryAfterMs`.
 */
export function toClientCredentialsError(
  e: unknown,
  where: { credential: string; tenantId: string; agent?: string },
  maxRetryAfterMs = Infinity,
): ClientCredentialsError {
  const error = convert(e, where, maxRetryAfterMs);
  // A managed identity endpoint's failure stays this host's once typed (see host-failure.ts).
  return isHostFailure(e) ? markHostFailure(error) : error;
}

function convert(
  e: unknown,
  where: { credential: string; tenantId: string; agent?: string },
  maxRetryAfterMs: number,
): ClientCredentialsError {
  if (e instanceof ClientCredentialsError) return e;
  const agent = where.agent === undefined ? '' : `, agent identity ${where.agent}`;
  const base = `Token request for credential '${where.credential}' (tenant ${where.tenantId}${agent})`;
  if (e instanceof AuthorityFailure) {
    const ctx: ErrorContext = { ...where, ...e.detail, cause: e.reason };
    if (e.kind === 'rejected') {
      return new TokenRequestRejectedError(
        rejectionCode(ctx.aadsts, ctx.oauthError),
        sentence(`${base} was rejected: ${e.errorMessage}`),
        ctx,
      );
    }
    if (e.kind === 'unbound') {
      return new TokenRequestRejectedError(
        'binding_refused',
        `${base} was answered with an unbound token: ${e.errorMessage}.`,
        ctx,
      );
    }
    // Not an outage but the answer of whatever stands at the address: no retry sends the request
    // anywhere else, so it is a refusal (an `instanceof TokenEndpointError` retry loop never ends).
    if (e.kind === 'redirected') {
      return new TokenRequestRejectedError(
        'authority_redirected',
        sentence(`${base} failed: ${e.errorMessage}`),
        ctx,
      );
    }
    // Converted by the managed identity client; here only should a path forget to.
    if (e.kind === 'not_managed_identity') {
      return new ClientCredentialsError(
        'source_unavailable',
        sentence(`${base} found no managed identity endpoint: ${e.errorMessage}`),
        ctx,
      );
    }
    // Every other kind is a transient endpoint failure whose code is the kind itself.
    const verb =
      e.kind === 'throttled' ? 'was throttled' : e.kind === 'timeout' ? 'timed out' : 'failed';
    // The error says what the library does: a Retry-After past the longest it honours is cut
    // (a proxy's `Retry-After: 86400` must not read as "wait a day").
    let waits = '';
    if (ctx.retryAfterMs !== undefined && ctx.retryAfterMs > maxRetryAfterMs) {
      waits = ` The authority asked to wait ${duration(ctx.retryAfterMs)} (Retry-After); the library tries again after ${duration(maxRetryAfterMs)} at most (retry.maxRetryAfterMs).`;
      ctx.retryAfterMs = maxRetryAfterMs;
    }
    return new TokenEndpointError(
      e.kind,
      `${sentence(`${base} ${verb}: ${e.errorMessage}`)}${waits}`,
      ctx,
      true,
    );
  }
  if (e instanceof ServerError) {
    // Our network client turns every token endpoint refusal into an AuthorityFailure before msal
    // reads it: a ServerError is msal's reading of a managed identity endpoint's refusal.
    const reason = endpointReason(e);
    const aadsts = Number(e.errorNo) || Number(/^AADSTS(\d+)/.exec(reason ?? '')?.[1]) || undefined;
    const oauthError = e.errorCode || undefined;
    const said = [oauthError, reason].filter((s) => s !== undefined).join(': ');
    return new TokenRequestRejectedError(
      rejectionCode(aadsts, oauthError),
      sentence(
        `${base} was rejected: the managed identity endpoint answered HTTP ${e.status ?? '?'}: ${said || 'no reason given'}`,
      ),
      {
        ...where,
        aadsts,
        oauthError,
        status: e.status,
        correlationId: e.correlationId || undefined,
      },
    );
  }
  if (e instanceof AuthError) {
    return new ClientCredentialsError(
      'authority_error',
      `${base} failed in msal-node: ${e.errorCode}${e.errorMessage ? ` (${e.errorMessage.split('\n')[0].slice(0, 200)})` : ''}.`,
      { ...where, correlationId: e.correlationId || undefined },
    );
  }
  return new ClientCredentialsError(
    'authority_error',
    sentence(`${base} failed: ${thrownText(e)}`),
    { ...where, cause: e },
  );
}

/** msal-common's stand-in for a field the answer did not have. */
const NOT_AVAILABLE = 'Not Available';

/**
 * The reason a managed identity endpoint gave for a refusal, as msal-node put it in a ServerError:
 * App Service's `message`, or IMDS's (another host's) `error_description`, inside msal's
 * "Error(s): … - Description: <reason> - Correlation ID: …" line, as {@link foreignText}: the
 * text ends up in logs and health details, and an endpoint's own words have no business carrying
 * a token there.
 */
export function endpointReason(e: ServerError): string | undefined {
  const text =
    /Description: ([\s\S]*?) - Correlation ID: /.exec(e.errorMessage)?.[1] ?? e.errorMessage;
  const line = foreignText(text);
  return line === '' || line === NOT_AVAILABLE ? undefined : line;
}

/** A refusal of the credential itself (the chain may move on) or of the request. */
function rejectionCode(
  aadsts: number | undefined,
  oauthError: string | undefined,
): 'credential_rejected' | 'request_rejected' {
  // A scope error is never the credential's, whatever its number: Entra also answers 700023
  // (InvalidResourcelessScope) for a scope without a resource.
  if (oauthError === 'invalid_scope') return 'request_rejected';
  const credential =
    (aadsts !== undefined && CREDENTIAL_AADSTS.has(aadsts)) || oauthError === 'invalid_client';
  return credential ? 'credential_rejected' : 'request_rejected';
}

/** `300 ms`, `60 s`. */
function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`;
}

/**
 * `text` ending with one full stop: an authority's description (AADSTS texts end with one) is
 * not given a second before the hint.
 */
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

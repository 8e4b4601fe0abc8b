import { AuthError, ServerError } from '@azure/msal-node';
import { AuthorityFailure } from '../authority-failure';
import {
  ClientCredentialsError,
  ErrorContext,
  TokenEndpointError,
  TokenRequestRejectedError,
} from './client-credentials.errors';

/** AADSTS numbers that mean "this credential is not accepted", not "this request is wrong". */
export const CREDENTIAL_AADSTS: ReadonlySet<number> = new Set([
  7000215, 7000222, 700027, 700024, 7000274, 7000277, 1000502, 7000214, 70021, 700211, 700212,
  700213, 7000112,
]);

/**
 * Turns whatever a token request threw (our network client's AuthorityFailure, an msal error,
 * an error of ours) into one typed {@link ClientCredentialsError} naming credential and tenant.
 */
export function toClientCredentialsError(
  e: unknown,
  where: { credential: string; tenantId: string },
): ClientCredentialsError {
  if (e instanceof ClientCredentialsError) return e;
  const base = `Token request for credential '${where.credential}' (tenant ${where.tenantId})`;
  if (e instanceof AuthorityFailure) {
    const ctx: ErrorContext = { ...where, ...e.detail, cause: e.reason };
    switch (e.kind) {
      case 'rejected': {
        const credentialProblem =
          (ctx.aadsts !== undefined && CREDENTIAL_AADSTS.has(ctx.aadsts)) ||
          ctx.oauthError === 'invalid_client';
        return new TokenRequestRejectedError(
          credentialProblem ? 'credential_rejected' : 'request_rejected',
          `${base} was rejected: ${e.errorMessage}.`,
          ctx,
        );
      }
      case 'throttled':
        return new TokenEndpointError(
          'throttled',
          `${base} was throttled: ${e.errorMessage}.`,
          ctx,
          true,
        );
      case 'endpoint_unavailable':
        return new TokenEndpointError(
          'endpoint_unavailable',
          `${base} failed: ${e.errorMessage}.`,
          ctx,
          true,
        );
      case 'timeout':
        return new TokenEndpointError(
          'timeout',
          `${base} timed out: ${e.errorMessage}.`,
          ctx,
          true,
        );
      case 'network_error':
        return new TokenEndpointError(
          'network_error',
          `${base} failed: ${e.errorMessage}.`,
          ctx,
          true,
        );
      case 'invalid_response':
        return new TokenEndpointError(
          'invalid_response',
          `${base} failed: ${e.errorMessage}.`,
          ctx,
          true,
        );
    }
  }
  if (e instanceof ServerError) {
    const aadsts = Number(e.errorNo) || undefined;
    return new TokenRequestRejectedError(
      aadsts !== undefined && CREDENTIAL_AADSTS.has(aadsts)
        ? 'credential_rejected'
        : 'request_rejected',
      `${base} was rejected: ${e.errorCode}.`,
      {
        ...where,
        aadsts,
        oauthError: e.errorCode,
        status: e.status,
        correlationId: e.correlationId,
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
    `${base} failed: ${(e as Error)?.message ?? String(e)}.`,
    { ...where, cause: e },
  );
}

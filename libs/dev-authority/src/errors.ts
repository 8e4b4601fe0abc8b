import { randomUUID } from 'node:crypto';

/**
 * Entra ID error answers. Codes, `error` values and statuses follow Microsoft's "Microsoft Entra
 * authentication and authorization error codes" reference and the token endpoint docs; where the
 * reference is silent, the wording seen in Entra answers quoted in Azure SDK troubleshooting guides
 * and GitHub issues (sources listed in docs/dev-authority.md).
 */
export interface AadstsDefinition {
  /** OAuth `error` value. */
  error: string;
  /** HTTP status Entra answers with. */
  status: number;
}

/** The AADSTS codes this authority answers with. */
export const AADSTS = {
  /** Tenant not found. */
  90002: { error: 'invalid_request', status: 400 },
  /** Grant type not supported over /common or /consumers. */
  9001023: { error: 'invalid_request', status: 400 },
  /** No tenant-identifying information (/organizations with client credentials). */
  50059: { error: 'invalid_request', status: 400 },
  /** Request body must contain parameter. */
  900144: { error: 'invalid_request', status: 400 },
  /** Invalid request: malformed (e.g. an HTTP Basic client authentication that cannot be decoded). */
  9002313: { error: 'invalid_request', status: 400 },
  /** Unsupported grant type. */
  70003: { error: 'unsupported_grant_type', status: 400 },
  /** Application not found in the directory. */
  700016: { error: 'unauthorized_client', status: 400 },
  /** Client credential flows need `<resource>/.default`. */
  1002012: { error: 'invalid_scope', status: 400 },
  /** Invalid scope. */
  70011: { error: 'invalid_scope', status: 400 },
  /** Resource principal not found in tenant. */
  500011: { error: 'invalid_resource', status: 400 },
  /** Invalid client secret. */
  7000215: { error: 'invalid_client', status: 401 },
  /** Client secret expired. */
  7000222: { error: 'invalid_client', status: 401 },
  /** Body must contain client_assertion or client_secret. */
  7000218: { error: 'invalid_request', status: 400 },
  /** client_assertion_type must be jwt-bearer. */
  7000219: { error: 'invalid_request', status: 400 },
  /** Certificate not registered / invalid signature / key expired. */
  700027: { error: 'invalid_client', status: 401 },
  /** Client assertion not within its valid time range. */
  700024: { error: 'invalid_client', status: 401 },
  /** Client assertion application identifier doesn't match client_id. */
  700021: { error: 'invalid_client', status: 401 },
  /** Client assertion audience claim does not match realm issuer. */
  700023: { error: 'invalid_client', status: 401 },
  /** Subject mismatches issuer in the client assertion. */
  50048: { error: 'invalid_client', status: 401 },
  /** Invalid JWT (malformed, or an external token failing signature verification). */
  50027: { error: 'invalid_request', status: 400 },
  /** Certificate subject name not authorized (SNI). */
  700030: { error: 'invalid_client', status: 401 },
  /** Authentication failed: certificate chain not valid / no trusted authority (SNI). */
  50012: { error: 'invalid_client', status: 401 },
  /** No federated identity record for the assertion issuer. */
  700211: { error: 'invalid_client', status: 401 },
  /** No federated identity record for the assertion audience. */
  700212: { error: 'invalid_client', status: 401 },
  /** No federated identity record for the assertion subject. */
  700213: { error: 'invalid_client', status: 401 },
  /** A blueprint asked for a token exchange token without `fmi_path` (Entra Agent ID). */
  82008: { error: 'invalid_request', status: 400 },
  /** No client credential in a client credentials request (as answered to agent identities). */
  7000216: { error: 'invalid_request', status: 400 },
  /** Invalid assertion (the agent's token presented as an agent user's credential). */
  50013: { error: 'invalid_grant', status: 400 },
  /** The user account does not exist in the directory. */
  50034: { error: 'invalid_grant', status: 400 },
  /** The user or administrator has not consented to the scopes. */
  65001: { error: 'invalid_grant', status: 400 },
  /** Token issuance error (fault injection: 500). */
  50000: { error: 'server_error', status: 500 },
  /** Service temporarily unavailable (fault injection: 503). */
  90006: { error: 'temporarily_unavailable', status: 503 },
  /** Too many requests (fault injection: 429). */
  90055: { error: 'temporarily_unavailable', status: 429 },
} as const satisfies Record<number, AadstsDefinition>;

/** A code from {@link AADSTS}. */
export type AadstsCode = keyof typeof AADSTS;

/** An Entra error the token endpoint answers with. */
export class EntraError extends Error {
  readonly status: number;
  readonly error: string;

  constructor(
    readonly code: AadstsCode,
    readonly detail: string,
    overrides?: { status?: number; error?: string },
  ) {
    super(`AADSTS${code}: ${detail}`);
    this.status = overrides?.status ?? AADSTS[code].status;
    this.error = overrides?.error ?? AADSTS[code].error;
  }
}

/** Entra's JSON error body (timestamp format `2016-01-09 02:02:12Z`). */
export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

/** Formats a date like Entra's error timestamps. */
export function entraTimestamp(at: Date): string {
  return at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** Builds the body Entra sends for `err`; echoes the caller's client-request-id as correlation id. */
export function entraErrorBody(
  err: EntraError,
  origin: string,
  now: Date,
  correlationId?: string,
): EntraErrorBody {
  const traceId = randomUUID();
  const correlation = correlationId ?? randomUUID();
  const timestamp = entraTimestamp(now);
  return {
    error: err.error,
    error_description:
      `AADSTS${err.code}: ${err.detail}\r\nTrace ID: ${traceId}\r\n` +
      `Correlation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
    error_codes: [err.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlation,
    error_uri: `${origin}/error?code=${err.code}`,
  };
}

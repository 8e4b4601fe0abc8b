import { ClientCredentialsErrorCode, hintFor } from './error-catalog';

/** Where a failed token request was going and what the authority said about it. */
export interface ErrorContext {
  /** Name of the credential in the module options. */
  credential?: string;
  tenantId?: string;
  /** The agent identity (its app id) whose token was asked for, in an agent's flow. */
  agent?: string;
  /** Entra ID error number (the nnnn of AADSTSnnnn). */
  aadsts?: number;
  /** OAuth 2.0 `error` value from the token endpoint, e.g. `invalid_client`. */
  oauthError?: string;
  /** HTTP status of the token endpoint's answer. */
  status?: number;
  correlationId?: string;
  traceId?: string;
  /** Milliseconds the authority asked us to wait (Retry-After). */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Base class of every error this library raises. `code` is stable and documented in
 * docs/troubleshooting.md; `hint` says how to fix it. Messages never contain a secret,
 * a private key, an assertion or a token.
 * @publicApi
 */
export class ClientCredentialsError extends Error {
  /** Stable machine-readable code. */
  readonly code: ClientCredentialsErrorCode;
  /** How to fix it. */
  readonly hint: string;
  /** Whether retrying later can succeed without a configuration change. */
  readonly transient: boolean;
  readonly credential?: string;
  readonly tenantId?: string;
  /** The agent identity (app id) of an agent's token request (Entra Agent ID). */
  readonly agent?: string;
  readonly aadsts?: number;
  readonly oauthError?: string;
  readonly status?: number;
  readonly correlationId?: string;
  readonly traceId?: string;
  readonly retryAfterMs?: number;

  constructor(
    code: ClientCredentialsErrorCode,
    message: string,
    context: ErrorContext = {},
    transient = false,
  ) {
    const hint = hintFor(code, context.aadsts, context.agent !== undefined);
    super(
      `${message} Hint: ${hint}`,
      context.cause === undefined ? undefined : { cause: context.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
    this.transient = transient;
    this.credential = context.credential;
    this.tenantId = context.tenantId;
    this.agent = context.agent;
    this.aadsts = context.aadsts;
    this.oauthError = context.oauthError;
    this.status = context.status;
    this.correlationId = context.correlationId;
    this.traceId = context.traceId;
    this.retryAfterMs = context.retryAfterMs;
  }
}

/**
 * Options are invalid: the module's (thrown by `app.init()`) or a calling integration's (thrown
 * where it is created), naming every bad field. @publicApi
 */
export class ConfigurationError extends ClientCredentialsError {
  /** One line per problem: `path: what is wrong — how to fix it`. */
  readonly problems: readonly string[];
  /**
   * @param problems one line per problem, never a value
   * @param subject whose options they are, for the message's first line
   */
  constructor(problems: readonly string[], subject = 'ClientCredentialsModule options') {
    super(
      'options_invalid',
      `Invalid ${subject}:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    this.problems = problems;
  }
}

/** A call to getAccessToken() was wrong before any network call was made. @publicApi */
export class InvalidRequestError extends ClientCredentialsError {}

/**
 * The identity provider (or whatever answers at its address: a redirect) refused to issue a
 * token; retrying will not help. @publicApi
 */
export class TokenRequestRejectedError extends ClientCredentialsError {}

/**
 * The token endpoint could not be used right now (5xx, 429, timeout, network, garbage): always
 * transient. @publicApi
 */
export class TokenEndpointError extends ClientCredentialsError {}

/**
 * The events of the token path, as `TokenService.events` (an rxjs `Observable`) and the
 * `@nestjs/event-emitter` bridge hand them out. Plain, frozen data: no token, secret, key or
 * assertion is ever in one — only names, ids, times and the error's code, number and message.
 */

/** An agent identity's leg of a token (Microsoft Entra Agent ID, see docs/agents.md). */
export type AgentLegName = 'exchange' | 'agent' | 'agent_user';

/** A failure as an event carries it: never the error object, whose causes a walk could follow. */
export interface EventError {
  /** The stable code (`ClientCredentialsError.code`), e.g. `endpoint_unavailable`. */
  readonly code: string;
  /** The Entra ID error number (AADSTSnnnn), when the authority gave one. */
  readonly aadsts?: number;
  /** The error's message, with its hint (no secret, as every message of the library). */
  readonly message: string;
  /** Whether trying again later can succeed without a change of configuration. */
  readonly transient: boolean;
  /** The authority's correlation id, for a support request. */
  readonly correlationId?: string;
}

/** Which token an event is about. */
export interface TokenEventTarget {
  /** The credential's name in the module options. */
  readonly credential: string;
  /** The tenant the token is of. */
  readonly tenantId: string;
  /** The scopes it is asked for. */
  readonly scopes: readonly string[];
  /** The agent identity's app id, for a token of an agent's leg (Entra Agent ID). */
  readonly agent?: string;
  /** The agent user (object id or UPN) of an `agent_user` leg. */
  readonly agentUser?: string;
  /** Which leg of an agent's token (`exchange`: its blueprint's token exchange token, T1). */
  readonly agentLeg?: AgentLegName;
}

/**
 * The outcome of one background refresh attempt (the model: MSAL .NET's
 * `OnBackgroundTokenRefreshCompleted`). Callers keep getting the cached token meanwhile; a failed
 * refresh is retried with backoff while that token is still served (`willRetry`).
 */
export interface TokenRefreshEvent extends TokenEventTarget {
  /** Tells the events apart. */
  readonly type: 'refresh';
  /** When it happened. */
  readonly at: Date;
  /** `refreshed`: a new token; `adopted`: one another replica had stored; `failed`: none. */
  readonly outcome: 'refreshed' | 'adopted' | 'failed';
  /** Failed attempts of this refresh before this one. */
  readonly previousFailures: number;
  /** The new token's expiry (not `failed`). */
  readonly expiresOn?: Date;
  /** Why it failed (`failed`). */
  readonly error?: EventError;
  /** Until when the cached token is still served (`failed`). */
  readonly servedUntil?: Date;
  /** Whether another attempt is scheduled (`failed`): false once no time is left. */
  readonly willRetry?: boolean;
  /** When the next attempt starts (`failed` with `willRetry`). */
  readonly retryAt?: Date;
}

/**
 * A token a caller waited for could not be obtained (after the retries of `retry.maxAttempts`).
 * Later callers of that token fail fast with the same error until `coolDownUntil`, instead of
 * each asking the authority. One event per failed acquisition, however many callers waited.
 */
export interface TokenFailureEvent extends TokenEventTarget {
  /** Tells the events apart. */
  readonly type: 'failure';
  /** When it happened. */
  readonly at: Date;
  /** Why. */
  readonly error: EventError;
  /** Until when callers of this token get this error without a request. */
  readonly coolDownUntil?: Date;
}

/**
 * A source of a credential's chain failed in a way another source may not (a rejected
 * certificate, a missing token file, no managed identity endpoint) and is passed over until
 * `until`; the next source is tried.
 */
export interface SourceSkippedEvent {
  /** Tells the events apart. */
  readonly type: 'source-skipped';
  /** When it happened. */
  readonly at: Date;
  /** The credential's name in the module options. */
  readonly credential: string;
  /** The source's id: its type and position (`certificate#0`). */
  readonly source: string;
  /** The tenant it is skipped for; none: for every tenant (a missing file, say). */
  readonly tenantId?: string;
  /** Why (the error's message, no secret). */
  readonly reason: string;
  /** Skips in a row: the pause doubles with each. */
  readonly skips: number;
  /** When it is tried again. */
  readonly until: Date;
}

/** A source that was being skipped obtained a token again. */
export interface SourceRestoredEvent {
  /** Tells the events apart. */
  readonly type: 'source-restored';
  /** When it happened. */
  readonly at: Date;
  /** The credential's name in the module options. */
  readonly credential: string;
  /** The source's id (`certificate#0`). */
  readonly source: string;
  /** The tenant of the request it worked for. */
  readonly tenantId: string;
}

/**
 * A token was refused and is served no more: by an API (401 `invalid_token`, a claims challenge:
 * `replaceRefusedToken`, `forgetRefusedToken`, the calling integrations) or by the authority (an
 * agent's token exchange token refused as its client assertion).
 */
export interface TokenRefusedEvent extends TokenEventTarget {
  /** Tells the events apart. */
  readonly type: 'token-refused';
  /** When it happened. */
  readonly at: Date;
  /** Who refused it: an API the token was sent to, or the authority (as a client assertion). */
  readonly by: 'api' | 'authority';
  /**
   * True when the refused token was itself a replacement refused at once: no new token is
   * fetched for a hold-off (an API that refuses every token, a wrong audience say); the caller
   * keeps the API's 401.
   */
  readonly heldOff: boolean;
}

/** A warm-up token that could not be obtained, and why. */
export interface WarmUpFailure extends TokenEventTarget {
  /** Why it was not obtained: the last failure. */
  readonly error: EventError;
}

/**
 * The end of the warm-up (`warmUp` option): every declared token obtained, or the warm-up over
 * without some of them (a failure no retry helps, or `warmUp.timeoutMs` passed). With
 * `wait: 'background'`, a failed warm-up whose tokens are all obtained later, by its retries, ends
 * a second time: `completed`.
 */
export interface WarmUpEvent {
  /** Tells the events apart. */
  readonly type: 'warm-up';
  /** When it happened. */
  readonly at: Date;
  readonly outcome: 'completed' | 'failed';
  /** Tokens declared (every combination of scopes, tenants and agents). */
  readonly declared: number;
  /** Tokens obtained. */
  readonly obtained: number;
  /** From the start of the warm-up to its end. */
  readonly durationMs: number;
  /** The tokens not obtained. */
  readonly failures: readonly WarmUpFailure[];
}

/** Where the warm-up is (`TokenService.getWarmUpStatus()`), for health and diagnostics. */
export interface WarmUpStatus {
  /**
   * `pending` while it runs; `failed` when it ended without some of its tokens. With
   * `wait: 'background'`, `failed` turns `completed` once its retries obtain the missing tokens.
   */
  readonly state: 'pending' | 'completed' | 'failed';
  /** Tokens declared (every combination of scopes, tenants and agents). */
  readonly declared: number;
  /** Tokens obtained so far. */
  readonly obtained: number;
  /** Per credential: its tokens declared, obtained, and given up on. */
  readonly credentials: Readonly<Record<string, WarmUpProgress>>;
  /**
   * The tokens not obtained, and why (with `wait: 'background'`, the last failure of those still
   * retried).
   */
  readonly failures: readonly WarmUpFailure[];
}

/** A credential's part of the warm-up. */
export interface WarmUpProgress {
  readonly declared: number;
  readonly obtained: number;
  readonly failed: number;
}

/**
 * Every event of the token path; `type` tells them apart. With `@nestjs/event-emitter`, each is
 * emitted as `client-credentials.<type>` (e.g. `@OnEvent('client-credentials.refresh')`).
 */
export type ClientCredentialsEvent =
  | TokenRefreshEvent
  | TokenFailureEvent
  | SourceSkippedEvent
  | SourceRestoredEvent
  | TokenRefusedEvent
  | WarmUpEvent;

/** The `type` of an event. */
export type ClientCredentialsEventType = ClientCredentialsEvent['type'];

/** The prefix of the event names the `@nestjs/event-emitter` bridge emits. */
export const CLIENT_CREDENTIALS_EVENT_PREFIX = 'client-credentials.';

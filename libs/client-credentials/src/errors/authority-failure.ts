import { AuthError } from '@azure/msal-node';

/** How a call to the authority failed, as seen on the wire. */
export type AuthorityFailureKind =
  | 'rejected'
  | 'endpoint_unavailable'
  | 'throttled'
  | 'timeout'
  | 'network_error'
  | 'invalid_response'
  /**
   * A managed identity endpoint's address answered with something that is no managed identity
   * answer (another cloud's metadata service): no managed identity here.
   */
  | 'not_managed_identity'
  /** The authority answered with a redirect (3xx), never followed: a configuration fact. */
  | 'redirected'
  /** A token requested bound to a key (DPoP) or a certificate (mTLS) came back unbound. */
  | 'unbound';

/** What the authority said, parsed from an OAuth 2.0 / Entra error body. */
export interface AuthorityFailureDetail {
  status?: number;
  retryAfterMs?: number;
  oauthError?: string;
  /** First line of `error_description`, bounded in length. */
  description?: string;
  aadsts?: number;
  traceId?: string;
  correlationId?: string;
}

/**
 * Raised by our network client from inside msal-node. It extends msal's `AuthError` on purpose:
 * msal rethrows an `AuthError` from the network layer untouched, so the details survive, and it
 * never reaches msal's own throttling, which would fail every call for 60 s after one 5xx or 429
 * even while a valid token is cached.
 */
export class AuthorityFailure extends AuthError {
  constructor(
    readonly kind: AuthorityFailureKind,
    readonly detail: AuthorityFailureDetail,
    message: string,
    readonly reason?: unknown,
  ) {
    super(kind, detail.correlationId ?? '', message);
    // msal's AuthError constructor pins the prototype to AuthError; restore ours for instanceof.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'AuthorityFailure';
  }
}

import type { ClientAuthDeps } from './client-authentication';
import type { Directory } from './directory';
import { EntraError } from './errors';
import type { Revocations } from './revocation';

/* What every grant of the token endpoint shares: its dependencies, lifetimes, missing parameters. */

/** Lifetime settings in force for a tenant. */
export interface LifetimePolicy {
  seconds: number;
  refreshInSeconds?: number;
  /** How long before expiry the managed identity endpoints stop answering from their cache. */
  identityCacheMarginSeconds?: number;
}

/** What the token endpoint needs from the authority. */
export interface TokenEndpointDeps extends ClientAuthDeps {
  directory: Directory;
  lifetime(tenantId: string): LifetimePolicy;
  /** Revoked tokens: a token issued after a revocation is never older than it. */
  revocations: Revocations;
  /**
   * The mTLS listener's token endpoint (Entra's `mtlsauth` host): the certificate of the TLS
   * handshake authenticates the client, and `token_type=mtls_pop` binds the token to it.
   */
  mtls?: boolean;
}

/** Builds Entra's `expires_in` / `ext_expires_in` / `refresh_in` fields. */
export function lifetimeFields(policy: LifetimePolicy): Record<string, number> {
  // Entra sends refresh_in for long-lived tokens (2 h and more): half the lifetime.
  const refreshIn =
    policy.refreshInSeconds ??
    (policy.seconds >= 7200 ? Math.floor(policy.seconds / 2) : undefined);
  return {
    expires_in: policy.seconds,
    ext_expires_in: policy.seconds,
    ...(refreshIn !== undefined ? { refresh_in: refreshIn } : {}),
  };
}

/** Entra's answer to a request without a parameter it needs. */
export function missing(name: string): EntraError {
  return new EntraError(
    900144,
    `The request body must contain the following parameter: '${name}'.`,
  );
}

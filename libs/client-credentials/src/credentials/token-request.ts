import type { Principal } from './principal';

/** Which token a caller asks for. */
export interface TokenRequest {
  /** Whom the token is for: a credential, or a leg of one of its agents (see {@link Principal}). */
  readonly credential: Principal;
  readonly tenantId: string;
  readonly scopes: readonly string[];
  /** The scopes as one string (a claims request's carries its claims id too): the index key. */
  readonly scopeKey: string;
  /**
   * A claims request (a resource's claims challenge): its token is indexed under a key of its
   * own and never served to a caller that did not ask for these claims.
   */
  readonly claims?: string;
}

/**
 * The name of a request's token among flights, cool-downs and refused tokens. Built when a token
 * is fetched, never kept: a cache of 100,000 tokens would otherwise hold as many key strings.
 */
export function requestKey(request: TokenRequest): string {
  return `${request.credential.key}\n${request.tenantId}\n${request.scopeKey}`;
}

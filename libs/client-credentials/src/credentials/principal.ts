import type { IssuedToken } from '../authority/source-client';
import type { CredentialStats } from '../observability/credential-stats';

/** A token as a principal fetched it, and which of its sources did (its store key's index). */
export interface Fetched {
  readonly issued: IssuedToken;
  readonly index: number;
}

/**
 * Whom a token is for, as the token path sees it — cache index, flights, cool-downs, store keys,
 * background refresh: a configured credential, or, for an agent identity blueprint, one of its
 * agents' legs (the blueprint's token exchange token for the agent, the agent's own tokens, its
 * agent user's). The in-memory index is keyed by the principal object, so a lookup is a map hit
 * whoever the token is for, and no principal's token is found under another's.
 */
export interface Principal {
  /** The configured credential's name: what tokens, logs and errors name. */
  readonly name: string;
  /** Names the principal among flights, cool-downs and refusals: unique within the service. */
  readonly key: string;
  /**
   * Whom the tokens are for when not the credential itself, stored with each token and checked
   * when one is read back: `agent=<id>` (an agent's own), `fmi_path=<id>` (its blueprint's token
   * exchange token), `agent=<id>;user=<user>` (its agent user's). Undefined for a credential.
   */
  readonly subject?: string;
  /** The counters of the configured credential. */
  readonly stats: CredentialStats;
  /**
   * Store keys of a token, one per source in source order; they carry no secret, and tell this
   * principal's tokens apart from any other's (an agent's id is in them).
   */
  storeKeys(tenantId: string, scopeKey: string): string[];
  /**
   * A token from the authority. `claims` (a resource's claims challenge) go with the request;
   * `refused` is the token an API refused that this one replaces.
   */
  fetch(
    tenantId: string,
    scopes: readonly string[],
    claims?: string,
    refused?: string,
  ): Promise<Fetched>;
  /** The id of source `index` (`secret#0`), as stored with its tokens. */
  sourceId(index: number): string;
  /** Records a token obtained or adopted from the store, for health and readiness. */
  recordSuccess(tenantId: string, expiresOn: number, token: string): void;
}

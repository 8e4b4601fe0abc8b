import type { IssuedToken } from '../authority/source-client';
import type { CredentialStats } from '../observability/credential-stats';
import type { AgentLeg } from '../observability/token-metrics';

/** Which agent's leg a principal is (Entra Agent ID): what events and spans name. */
export interface AgentLegOf {
  /** The agent identity's app id (lower case). */
  readonly agent: string;
  readonly leg: AgentLeg;
  /** The agent user of an `agent_user` leg. */
  readonly user?: string;
}

/** What binds a principal's tokens, as a store read checks it (see {@link Principal.binding}). */
export interface StoreBinding {
  readonly tokenType: 'DPoP' | 'mtls_pop' | 'Bearer';
  readonly certificate: boolean;
}

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
   * exchange token), `agent=<id>;user=<user>` (its agent user's); for a managed identity its
   * configuration does not name, `oid=<id>;tid=<tenant>` once learned from a token of its own.
   * Undefined for a credential its configuration names.
   */
  readonly subject?: string;
  /** For a leg of an agent's token: the agent, the leg, its user. Undefined for a credential. */
  readonly agentLeg?: AgentLegOf;
  /** The counters of the configured credential. */
  readonly stats: CredentialStats;
  /**
   * Store keys of a token, one per source in source order; they carry no secret, and tell this
   * principal's tokens apart from any other's (an agent's id is in them). `certificateThumbprint`:
   * of a token just issued bound to that certificate (mTLS), which names its key. None while
   * nothing tells this principal's tokens apart from another's (a managed identity known only from
   * its tokens, before its first): the store is then neither read nor locked nor written. A key
   * is `''` for a source whose tokens have none now (a certificate not loaded yet, with `mtls`).
   */
  storeKeys(tenantId: string, scopeKey: string, certificateThumbprint?: string): string[];
  /**
   * The `x5t#S256` of the certificate source `index` presents now, when the principal's tokens
   * are bound to certificates (`mtls`): a token read from the store must be bound to it.
   */
  boundThumbprint?(index: number): string | undefined;
  /**
   * What a token read from the store must be to serve this principal when its tokens are bound:
   * the `tokenType` they are issued with (`DPoP`, Entra's `mtls_pop`, `Bearer` for RFC 8705), and
   * whether a certificate binds them (then the token must name the source's, see
   * {@link boundThumbprint}). Undefined for a principal of plain bearer tokens.
   */
  readonly binding?: StoreBinding;
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
  /**
   * Records a token obtained or adopted from the store, for health and readiness; `scopeKey`, the
   * request's scopes (see `TokenRequest.scopeKey`), for the credential's own tenant's outcomes by scope.
   */
  recordSuccess(tenantId: string, expiresOn: number, token: string, scopeKey?: string): void;
}

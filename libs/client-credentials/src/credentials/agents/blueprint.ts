import type { ResolvedCredential } from '../../options/resolved-options';
import type { Fetched, Principal } from '../principal';

/** What a request of a credential's chain carries besides tenant and scopes. */
export interface ChainRequest {
  /** A resource's claims challenge. */
  readonly claims?: string;
  /** The token an API refused, which this request replaces. */
  readonly refused?: string;
  /**
   * The agent identity (its app id) a blueprint asks a token exchange token for: sent as
   * `fmi_path`, the outcome recorded as the agent's.
   */
  readonly fmiPath?: string;
}

/**
 * An agent identity blueprint as its agents see it: a credential (Entra app registration) whose
 * chain of sources can ask for a token exchange token on an agent's behalf.
 */
export interface Blueprint extends Principal {
  /** The credential's settings (authority, client id, CA, proxy…), without its sources. */
  readonly options: Omit<ResolvedCredential, 'sources'>;
  /** A token of the credential's chain: its own, or a token exchange token for `fmiPath`. */
  fetchFor(tenantId: string, scopes: readonly string[], request: ChainRequest): Promise<Fetched>;
}

import type { ClientCredentialsModuleOptions } from '../client-credentials.options';
import type { ResolvedSharedCacheOptions } from './resolved-shared-cache';
import type { CredentialSource, TokenRequestOptions } from '../credential.options';

/**
 * How requests reach an authority:
 * - `environment`: the proxy of `HTTPS_PROXY` / `HTTP_PROXY`, except `NO_PROXY` hosts and loopback
 *   (a machine-wide proxy is for the outside world, never for a local authority or sidecar);
 * - `direct`: never through a proxy (managed identity endpoints: IMDS refuses proxied requests);
 * - a proxy of the credential's own (`proxy` option), for every host but its `noProxy` ones.
 */
export type ProxySetting =
  | { readonly kind: 'environment' }
  | { readonly kind: 'direct' }
  | { readonly kind: 'explicit'; readonly url: string; readonly noProxy: readonly string[] };

/** The proxy of the process environment. */
export const ENVIRONMENT_PROXY: ProxySetting = { kind: 'environment' };
/** No proxy. */
export const NO_PROXY: ProxySetting = { kind: 'direct' };

/**
 * The `tenantId` a credential made of managed identity sources has when none is configured (its
 * own tenant is learned from its tokens): a key part only, never a tenant asked of anyone.
 */
export const MANAGED_IDENTITY_TENANT = 'managed-identity';

/** A credential after validation, with defaults applied. */
export interface ResolvedCredential {
  readonly name: string;
  readonly tenantId: string;
  readonly clientId: string;
  /** Origin and path of the authority host, without a trailing slash (the issuer, if one is set). */
  readonly authorityHost: string;
  readonly protocol: 'entra' | 'oidc';
  /** The OIDC issuer URL, without a trailing slash: the authority itself, whatever the tenant. */
  readonly issuer?: string;
  readonly sources: readonly CredentialSource[];
  readonly ca?: readonly string[];
  /** How the authority is reached: the environment's proxy unless the credential names one. */
  readonly proxy: ProxySetting;
  /** Set when the credential is an agent identity blueprint. */
  readonly agentBlueprint?: ResolvedBlueprint;
  /** Extra parameters and headers of its token requests (`tokenRequest`). */
  readonly tokenRequest?: ResolvedTokenRequest;
  /** The DPoP key to bind tokens to (its private key is secret, like the sources). */
  readonly dpop?: DpopSetting;
}

/** A credential's DPoP key, as configured. */
export interface DpopSetting {
  readonly algorithm: 'ES256' | 'RS256' | 'PS256';
  /** PEM; none: generated at start. */
  readonly privateKey?: string;
}

/** A credential's settings without what holds secrets (its sources and its DPoP key). */
export type CredentialSettings = Omit<ResolvedCredential, 'sources' | 'dpop'>;

/** A credential's `tokenRequest`, resolved. */
export interface ResolvedTokenRequest {
  readonly parameters: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly customize?: TokenRequestOptions['customize'];
  /**
   * Names the fixed parameters and headers in the credential's store keys: replicas configured
   * differently (a rolling deploy that changes an `audience`) never share tokens.
   */
  readonly digest: string;
}

/** An agent identity blueprint's settings, resolved. */
export interface ResolvedBlueprint {
  /** Agent app ids (lower case) by name. */
  readonly agents: ReadonlyMap<string, string>;
  readonly onlyNamedAgents: boolean;
  readonly tokenExchangeScope: string;
}

/** The module options after validation, with defaults applied. */
export interface ResolvedOptions {
  readonly credentials: ReadonlyMap<string, ResolvedCredential>;
  readonly defaultCredential?: string;
  readonly cache: Required<
    Omit<NonNullable<ClientCredentialsModuleOptions['cache']>, 'store' | 'shared'>
  > &
    Pick<NonNullable<ClientCredentialsModuleOptions['cache']>, 'store'> & {
      readonly shared?: ResolvedSharedCacheOptions;
    };
  readonly refresh: Required<NonNullable<ClientCredentialsModuleOptions['refresh']>>;
  readonly retry: Required<NonNullable<ClientCredentialsModuleOptions['retry']>>;
  readonly timeouts: Required<NonNullable<ClientCredentialsModuleOptions['timeouts']>>;
}

/** What the token path needs of the options: timings and bounds, never a credential's secrets. */
export interface TokenPolicy {
  readonly maxEntries: number;
  readonly refresh: ResolvedOptions['refresh'];
  readonly retry: ResolvedOptions['retry'];
  readonly timeouts: ResolvedOptions['timeouts'];
}

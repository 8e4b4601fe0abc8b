// The local Entra ID–compatible authority of this repository, shipped in the package's `./testing`
// entry for users' own end-to-end tests. Imported by relative path: the package is built by tsc,
// which does not rewrite path aliases.
import type {
  App,
  DevAuthority,
  DevAuthorityOptions,
  Tenant,
} from '../../../dev-authority/src/types';
import type { CredentialOptions } from '../credential.options';

/**
 * Starts the local Entra ID–compatible authority on 127.0.0.1 over HTTPS, on a free port unless
 * `options.port` is given, with its own CA (`caPem`, `caPath`) and a protected demo API
 * (`<apiUrl>/data` accepts tokens for `apiScope`). Close it with `close()`.
 *
 * The authority is loaded on this first call, not when `nest-client-credentials/testing` is
 * imported: it needs @peculiar/x509 (an optional peer) and jose (ESM-only, which jest before Node
 * 24.9 cannot require() untransformed), and a unit test that only uses `TokenServiceDouble` should
 * need neither.
 * @example
 * const authority = await startLocalAuthority();
 * const { credential, scope } = createLocalApplication(authority);
 * // …
 * await authority.close();
 * @publicApi
 */
export function startLocalAuthority(options?: DevAuthorityOptions): Promise<DevAuthority> {
  type Start = typeof import('../../../dev-authority/src/start');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { startDevAuthority } = require('../../../dev-authority/src/start') as Start;
  return startDevAuthority(options);
}

export type {
  App as LocalApp,
  DevAuthority as LocalAuthority,
  DevAuthorityOptions as LocalAuthorityOptions,
  FaultSpec,
  KeyCertificate,
  KeyVault as LocalKeyVault,
  RequestLogEntry,
  Tenant as LocalTenant,
  TokenRequestFilter,
  VaultKeyVersion,
} from '../../../dev-authority/src/types';

/** A tenant, an app registered in it with a client secret, and the credential that signs in as it. */
export interface LocalApplication {
  tenant: Tenant;
  app: App;
  /** Options of a `ClientCredentialsModule` credential for this app, trusting the authority's CA. */
  credential: CredentialOptions;
  /** The scope of the authority's protected demo API (`<apiUrl>/data` accepts its tokens). */
  scope: string;
}

/**
 * Creates a tenant and an app with a client secret at `authority`, and the credential options that
 * point `ClientCredentialsModule` at it (authority host, tenant, client id, secret, CA).
 * @publicApi
 */
export function createLocalApplication(authority: DevAuthority): LocalApplication {
  const tenant = authority.createTenant();
  const app = tenant.createApp();
  return {
    tenant,
    app,
    credential: {
      authorityHost: authority.url,
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      ca: authority.caPem,
      sources: [{ type: 'secret', secret: app.addSecret() }],
    },
    scope: authority.apiScope,
  };
}

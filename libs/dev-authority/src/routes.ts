import type { X509Certificate } from 'node:crypto';
import { ARC_TOKEN_PATH, handleArc } from './arc-endpoint';
import type { ArcKeys } from './arc-keys';
import type { CryptoKey } from './crypto-types';
import type { Directory } from './directory';
import { openIdConfiguration, signingKeys } from './discovery';
import { EXTERNAL_ISSUER_PATH, type ServiceAccountIssuer } from './external-issuer';
import { Router, type Reply, type RequestContext } from './http';
import type { KeyVaultEmulation } from './key-vault';
import type { IdentityTokenCache } from './identity-token-cache';
import {
  describeIdentityRequest,
  handleImds,
  IMDS_TOKEN_PATH,
  type ImdsMaintenance,
} from './imds-endpoint';
import {
  describeManagedIdentityRequest,
  handleManagedIdentity,
  MANAGED_IDENTITY_PATH,
} from './managed-identity-endpoint';
import { handleApiData } from './protected-api';
import type { Revocations } from './revocation';
import type { Route } from './server';
import { presentedCertificate, thumbprintOf } from './mtls';
import {
  describeTokenRequest,
  handleTokenRequest,
  resolveTenant,
  type LifetimePolicy,
  type TokenEndpointDeps,
} from './token-endpoint';
import type { TokenIssuer } from './token-issuer';

/** The authority's state its endpoints read and change. */
export interface RouteDeps {
  /** `https://127.0.0.1:PORT`. */
  origin: string;
  directory: Directory;
  issuer: TokenIssuer;
  externalIssuer: ServiceAccountIssuer;
  /** nbf/exp tolerance of client assertions. */
  clockToleranceSeconds: number;
  /** Root of the "trusted subject name + issuer" certificates. */
  sniRoot: X509Certificate;
  /** The lifetime of the tokens a tenant is issued now. */
  lifetime(tenantId: string): LifetimePolicy;
  revocations: Revocations;
  /** The App Service endpoint's token cache. */
  /** The token caches of the managed identity endpoints, one per host kind. */
  identityTokens: {
    appService: IdentityTokenCache;
    imds: IdentityTokenCache;
    arc: IdentityTokenCache;
  };
  /** The `x-identity-header` value the App Service endpoint requires. */
  identityHeader: string;
  imdsMaintenance: ImdsMaintenance;
  arcKeys: ArcKeys;
  /** What the demo API accepts as `aud`: its application id and App ID URI. */
  apiAudiences: string[];
  /** The emulated Key Vault, once created. */
  keyVault(): KeyVaultEmulation | undefined;
}

/** The route table: which endpoint answers a method and path, and its log/fault target. */
export function authorityRoutes(deps: RouteDeps): Router<Route> {
  const { origin, directory, issuer, externalIssuer, lifetime } = deps;
  const tenantParam = async (ctx: RequestContext) => {
    ctx.log.tenantId = ctx.params.tenant.toLowerCase();
  };
  const tokenDeps = tokenEndpointDeps(deps);
  const discovery: Route = {
    target: 'discovery',
    prelude: tenantParam,
    handle: async (ctx) => {
      const tenantId = resolveTenant(directory, ctx.params.tenant);
      ctx.log.tenantId = tenantId;
      return openIdConfiguration(origin, tenantId, issuer);
    },
  };
  const keys: Route = {
    target: 'keys',
    prelude: tenantParam,
    handle: async (ctx) => signingKeys(ctx, issuer),
  };
  const vault = (handle: (v: KeyVaultEmulation, ctx: RequestContext) => Promise<Reply>): Route => ({
    target: 'vault',
    handle: async (ctx) => {
      const v = deps.keyVault();
      return v === undefined
        ? { status: 404, json: { error: { code: 'NotFound', message: 'No key vault here.' } } }
        : handle(v, ctx);
    },
  });
  // The issuer's and the vault's routes go first: '/:tenant/...' patterns would otherwise take them.
  return new Router<Route>()
    .add(
      'GET',
      '/keys/:name',
      vault((v, ctx) => v.getKey(ctx)),
    )
    .add(
      'GET',
      '/keys/:name/:version',
      vault((v, ctx) => v.getKey(ctx)),
    )
    .add(
      'POST',
      '/keys/:name/sign',
      vault((v, ctx) => v.sign(ctx)),
    )
    .add(
      'POST',
      '/keys/:name/:version/sign',
      vault((v, ctx) => v.sign(ctx)),
    )
    .add('GET', `${EXTERNAL_ISSUER_PATH}/.well-known/openid-configuration`, {
      target: 'issuer',
      handle: async () => externalIssuer.discovery(),
    })
    .add('GET', `${EXTERNAL_ISSUER_PATH}/openid/v1/jwks`, {
      target: 'issuer',
      handle: async () => externalIssuer.jwks(),
    })
    .add('GET', '/:tenant/v2.0/.well-known/openid-configuration', discovery)
    .add('GET', '/:tenant/.well-known/openid-configuration', discovery)
    .add('GET', '/:tenant/discovery/v2.0/keys', keys)
    .add('GET', '/:tenant/discovery/keys', keys)
    .add('POST', '/:tenant/oauth2/v2.0/token', {
      target: 'token',
      prelude: describeTokenRequest,
      handle: (ctx) => handleTokenRequest(ctx, tokenDeps),
    })
    .add('GET', MANAGED_IDENTITY_PATH, {
      target: 'managed-identity',
      prelude: async (ctx) => describeManagedIdentityRequest(ctx, directory),
      handle: (ctx) =>
        handleManagedIdentity(ctx, {
          directory,
          issuer,
          header: deps.identityHeader,
          lifetime,
          cache: deps.identityTokens.appService,
        }),
    })
    .add('GET', IMDS_TOKEN_PATH, {
      target: 'imds',
      prelude: async (ctx) => describeIdentityRequest(ctx, directory),
      handle: (ctx) =>
        handleImds(ctx, {
          directory,
          issuer,
          lifetime,
          maintenance: deps.imdsMaintenance,
          cache: deps.identityTokens.imds,
        }),
    })
    .add('GET', ARC_TOKEN_PATH, {
      target: 'arc',
      prelude: async (ctx) => describeIdentityRequest(ctx, directory, true),
      handle: (ctx) =>
        handleArc(ctx, {
          directory,
          issuer,
          lifetime,
          keys: deps.arcKeys,
          cache: deps.identityTokens.arc,
        }),
    })
    .add('GET', '/api/data', {
      target: 'api',
      handle: (ctx) =>
        handleApiData(ctx, {
          issuer,
          audiences: deps.apiAudiences,
          isTenant: (t) => directory.hasTenant(t),
          revocations: deps.revocations,
        }),
    });
}

/**
 * The routes of the mTLS listener (Entra's `mtlsauth` host, emulated): the token endpoint, where
 * the certificate of the TLS handshake authenticates the client and `token_type=mtls_pop` binds
 * the token to it, and the demo API, which sees the certificate a connection presents.
 */
export function mtlsRoutes(deps: RouteDeps): Router<Route> {
  const tokenDeps = { ...tokenEndpointDeps(deps), mtls: true };
  return new Router<Route>()
    .add('POST', '/:tenant/oauth2/v2.0/token', {
      target: 'token',
      prelude: describeTokenRequest,
      handle: (ctx) => handleTokenRequest(ctx, tokenDeps),
    })
    .add('GET', '/api/data', {
      target: 'api',
      handle: (ctx) => {
        const presented = presentedCertificate(ctx);
        return handleApiData(ctx, {
          issuer: deps.issuer,
          audiences: deps.apiAudiences,
          isTenant: (t) => deps.directory.hasTenant(t),
          revocations: deps.revocations,
          presented: presented && thumbprintOf(presented.certificate),
        });
      },
    });
}

function tokenEndpointDeps(deps: RouteDeps): TokenEndpointDeps {
  const { directory } = deps;
  return {
    origin: deps.origin,
    directory,
    issuer: deps.issuer,
    clockToleranceSeconds: deps.clockToleranceSeconds,
    sniRoot: deps.sniRoot,
    lifetime: deps.lifetime,
    federatedKey: (iss: string) => federatedKey(deps, iss),
    resourceUri: (aud: string) => directory.findResource(aud)?.appIdUri,
    revocations: deps.revocations,
  };
}

/**
 * The key that signs a federated credential's tokens, for the issuers this authority knows: its
 * service-account issuer, and its own tenants (an Entra token as a federated credential).
 */
function federatedKey(deps: RouteDeps, iss: string): CryptoKey | undefined {
  if (iss === deps.externalIssuer.url) return deps.externalIssuer.publicKey;
  const m = /^(.*)\/([^/]+)\/v2\.0$/.exec(iss);
  if (m !== null && m[1] === deps.origin && deps.directory.hasTenant(m[2]))
    return deps.issuer.publicKey;
  return undefined;
}

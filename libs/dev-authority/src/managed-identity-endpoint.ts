import { randomUUID } from 'node:crypto';
import type { Directory, ManagedIdentityRecord, ResourceRecord } from './directory';
import { EntraError } from './errors';
import type { Reply, RequestContext } from './http';
import { IdentityTokenCache } from './identity-token-cache';
import type { LifetimePolicy } from './token-endpoint';
import { rolesFor } from './token-endpoint';
import type { TokenIssuer } from './token-issuer';

/** Path of the App Service managed identity endpoint. */
export const MANAGED_IDENTITY_PATH = '/msi/token';

/** What the managed identity endpoint needs from the authority. */
export interface ManagedIdentityDeps {
  directory: Directory;
  issuer: TokenIssuer;
  header: string;
  lifetime(tenantId: string): LifetimePolicy;
  /** The endpoint's token cache (it hands a token back until near its expiry). */
  cache: IdentityTokenCache;
}

/**
 * App Service's refusal, in its own shape only: `{ statusCode, message, correlationId }` (the
 * correlation id also in `X-CORRELATION-ID`), as its answers are quoted in Azure SDK and MSAL
 * issues. No OAuth `error` / `error_description`: a client that reads only Entra's fields must
 * meet here what it meets on App Service.
 */
function failure(status: number, message: string): Reply {
  const correlationId = randomUUID();
  return {
    status,
    headers: { 'x-correlation-id': correlationId },
    json: { statusCode: status, message, correlationId },
  };
}

/**
 * App Service's reason when the identity a request names (or the system-assigned one, when it
 * names none) is not assigned to the app.
 */
const UNASSIGNED_IDENTITY_MESSAGE = 'Unable to load the proper Managed Identity.';

/**
 * `GET /msi/token?api-version=2019-08-01&resource=...` with `X-IDENTITY-HEADER`: App Service's
 * managed identity contract (client_id / mi_res_id / object_id select a user-assigned identity).
 * Like App Service it caches the tokens it hands out, per identity and resource, and answers repeat
 * requests with them until near expiry (revoked or not), except the one `token_sha256_to_refresh`
 * names: then it mints a new token, with the client capabilities of `xms_cc` (MSAL's "MSI v1 token
 * revocation" parameters).
 */
export async function handleManagedIdentity(
  ctx: RequestContext,
  deps: ManagedIdentityDeps,
): Promise<Reply> {
  const q = ctx.url.searchParams;
  if (ctx.req.headers['x-identity-header'] !== deps.header) {
    return failure(401, 'The X-IDENTITY-HEADER header is missing or does not match.');
  }
  if (q.get('api-version') !== '2019-08-01') {
    return failure(400, "Only api-version '2019-08-01' is supported.");
  }
  const resourceParam = q.get('resource');
  if (!resourceParam) return failure(400, "The 'resource' parameter is required.");
  const refresh = q.get('token_sha256_to_refresh')?.toLowerCase();
  // A base64 or truncated hash would silently match nothing: told, so a client's bug shows.
  if (refresh !== undefined && !/^[0-9a-f]{64}$/.test(refresh)) {
    return failure(
      400,
      "'token_sha256_to_refresh' must be the hex SHA-256 of the token to refresh (64 hex digits).",
    );
  }
  const capabilities = (q.get('xms_cc') ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  ctx.log.credentialKind = 'managed-identity';
  ctx.log.scope = `${resourceParam.replace(/\/\.default$/, '')}/.default`;

  const identity = pickIdentity(deps.directory, q);
  if (identity === undefined) {
    // 400, as App Service answers (msal retries a 404, which would only slow the caller down).
    return failure(400, UNASSIGNED_IDENTITY_MESSAGE);
  }
  ctx.log.clientId = identity.clientId;
  ctx.log.tenantId = identity.tenantId;
  const resource = deps.directory.findResource(resourceParam.replace(/\/\.default$/, ''));
  if (resource === undefined) {
    const err = new EntraError(
      500011,
      `The resource principal named ${resourceParam} was not found in the tenant named ${identity.tenantId}.`,
    );
    ctx.log.errorCode = err.code;
    // Entra's refusal relayed in App Service's shape: its reason, AADSTS number first.
    return failure(400, err.message);
  }
  const { token, expiresOn } = await cachedOrMinted(
    deps,
    identity,
    resource,
    ctx.now(),
    refresh,
    capabilities,
  );
  return tokenReply(token, expiresOn, resourceParam, identity);
}

/**
 * The token a caching endpoint answers with: its cached one (see {@link IdentityTokenCache}), else
 * one minted now and kept. `refresh` (App Service's `token_sha256_to_refresh`) naming the cached
 * token has a new one minted; endpoints without that parameter pass none. Times in epoch seconds.
 */
export async function cachedOrMinted(
  deps: Pick<ManagedIdentityDeps, 'directory' | 'issuer' | 'lifetime' | 'cache'>,
  identity: ManagedIdentityRecord,
  resource: ResourceRecord,
  now: Date,
  refresh?: string,
  capabilities: readonly string[] = [],
): Promise<{ token: string; issuedAt: number; expiresOn: number }> {
  const margin = deps.lifetime(identity.tenantId).identityCacheMarginSeconds;
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const cached = deps.cache.answer(identity, resource, nowSeconds, margin, refresh);
  if (cached !== undefined) return cached;
  // A token minted in place of a refused one is issued from the next whole second, as the token
  // endpoint issues after a revocation (see Revocations.issuedAt): never refused by the revocation
  // that made its client ask, which refuses tokens issued before the whole second after it.
  const issuedAt = refresh === undefined ? now : new Date(Math.ceil(now.getTime() / 1000) * 1000);
  const { token, expiresOn } = await mintIdentityToken(
    identity,
    resource,
    deps,
    issuedAt,
    capabilities,
  );
  const issuedSeconds = Math.floor(issuedAt.getTime() / 1000);
  deps.cache.keep(identity, resource, token, issuedSeconds, expiresOn);
  return { token, issuedAt: issuedSeconds, expiresOn };
}

function tokenReply(
  token: string,
  expiresOn: number,
  resourceParam: string,
  identity: ManagedIdentityRecord,
): Reply {
  return {
    status: 200,
    json: {
      access_token: token,
      expires_on: String(expiresOn),
      resource: resourceParam,
      token_type: 'Bearer',
      client_id: identity.clientId,
    },
  };
}

/**
 * A managed identity's access token for `resource`, as every managed identity host (App Service,
 * IMDS, Azure Arc) has Entra issue it; `expiresOn` in epoch seconds. `capabilities` (the client's
 * `xms_cc`, e.g. `cp1`) become the token's `xms_cc`, as for an app's token.
 */
export async function mintIdentityToken(
  identity: ManagedIdentityRecord,
  resource: ResourceRecord,
  deps: Pick<ManagedIdentityDeps, 'directory' | 'issuer' | 'lifetime'>,
  now: Date,
  capabilities: readonly string[] = [],
): Promise<{ token: string; expiresOn: number; lifetimeSeconds: number }> {
  const policy = deps.lifetime(identity.tenantId);
  const { token } = await deps.issuer.mint({
    tenantId: identity.tenantId,
    clientId: identity.clientId,
    objectId: identity.objectId,
    resource,
    roles: rolesFor(deps.directory, resource, identity.roles),
    azpacr: '2',
    lifetimeSeconds: policy.seconds,
    now,
    extra: {
      xms_mirid: identity.resourceId,
      ...(capabilities.length > 0 ? { xms_cc: [...capabilities] } : {}),
    },
  });
  const expiresOn = Math.floor(now.getTime() / 1000) + policy.seconds;
  return { token, expiresOn, lifetimeSeconds: policy.seconds };
}

/** Fills the log fields of a managed identity request before faults are matched. */
export function describeManagedIdentityRequest(ctx: RequestContext, directory: Directory): void {
  const identity = pickIdentity(directory, ctx.url.searchParams);
  const resource = ctx.url.searchParams.get('resource');
  ctx.log.credentialKind = 'managed-identity';
  ctx.log.clientId = identity?.clientId;
  ctx.log.tenantId = identity?.tenantId;
  ctx.log.scope = resource ? `${resource.replace(/\/\.default$/, '')}/.default` : undefined;
}

/** The identity a request names (client_id, mi_res_id / msi_res_id, object_id), or the system one. */
export function pickIdentity(
  directory: Directory,
  q: URLSearchParams,
): ManagedIdentityRecord | undefined {
  const clientId = q.get('client_id') ?? undefined;
  const resourceId = q.get('mi_res_id') ?? q.get('msi_res_id') ?? undefined;
  const objectId = q.get('object_id') ?? q.get('principal_id') ?? undefined;
  if (clientId === undefined && resourceId === undefined && objectId === undefined) {
    return directory.systemIdentity();
  }
  return directory.findUserIdentity({ clientId, resourceId, objectId });
}

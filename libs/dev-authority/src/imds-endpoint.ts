import type { Directory } from './directory';
import { EntraError } from './errors';
import type { Reply, RequestContext } from './http';
import {
  cachedOrMinted,
  pickIdentity,
  type ManagedIdentityDeps,
} from './managed-identity-endpoint';

/** Path of the managed identity token endpoint of IMDS (and of Azure Arc's agent, HIMDS). */
export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';

/** api-versions of the IMDS identity endpoint that clients send (msal-node and Azure SDKs: 2018-02-01). */
const IMDS_API_VERSIONS: ReadonlySet<string> = new Set(['2018-02-01', '2019-08-01']);

/**
 * IMDS's own error shape: `{ error, error_description }`, the OAuth fields, without Entra's trace
 * and correlation ids (IMDS answers before or instead of Entra).
 */
export function imdsError(status: number, error: string, description: string): Reply {
  return { status, json: { error, error_description: description } };
}

/**
 * When IMDS is "being updated": Azure answers 410 for up to 70 s during host maintenance and
 * clients are to keep retrying. The window is set per authority so tests can make it short.
 */
export class ImdsMaintenance {
  private until = 0;
  /** The body of the 410: IMDS's JSON error, or text. */
  body: 'json' | 'text' = 'json';

  /** IMDS answers 410 for the next `ms` milliseconds. */
  start(ms: number, body: 'json' | 'text' = 'json'): void {
    this.until = Date.now() + ms;
    this.body = body;
  }

  get active(): boolean {
    return Date.now() < this.until;
  }
}

/** What the IMDS endpoint needs from the authority. */
export interface ImdsDeps extends Omit<ManagedIdentityDeps, 'header'> {
  maintenance: ImdsMaintenance;
}

/**
 * `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with `Metadata: true`:
 * the Azure Instance Metadata Service of VMs, scale sets and AKS nodes. `client_id`, `object_id`
 * or `msi_res_id` select a user-assigned identity, none the system-assigned one. An identity the
 * host does not have is IMDS's `400 {"error":"invalid_request","error_description":"Identity not found"}`.
 */
export async function handleImds(ctx: RequestContext, deps: ImdsDeps): Promise<Reply> {
  const q = ctx.url.searchParams;
  if (ctx.req.headers.metadata !== 'true') {
    return imdsError(400, 'invalid_request', 'Required metadata header not specified');
  }
  if (deps.maintenance.active) {
    if (deps.maintenance.body === 'text') return { status: 410, text: 'Gone' };
    return imdsError(
      410,
      'service_unavailable',
      'IMDS is being updated; it will be available within 70 seconds.',
    );
  }
  const apiVersion = q.get('api-version');
  if (apiVersion === null || !IMDS_API_VERSIONS.has(apiVersion)) {
    return imdsError(
      400,
      'invalid_request',
      apiVersion === null
        ? "Required query variable 'api-version' is missing"
        : `Invalid api-version '${apiVersion}'`,
    );
  }
  const resourceParam = q.get('resource');
  if (!resourceParam) {
    return imdsError(400, 'invalid_request', "Required query variable 'resource' is missing");
  }
  const identity = pickIdentity(deps.directory, q);
  if (identity === undefined) return imdsError(400, 'invalid_request', 'Identity not found');
  const resourceUri = resourceParam.replace(/\/\.default$/, '');
  const resource = deps.directory.findResource(resourceUri);
  if (resource === undefined) {
    // IMDS passes Entra's refusal on.
    const err = new EntraError(
      500011,
      `The resource principal named ${resourceParam} was not found in the tenant named ${identity.tenantId}.`,
    );
    ctx.log.errorCode = err.code;
    return imdsError(400, 'invalid_resource', err.message);
  }
  // Like App Service, IMDS answers from its cache until the token nears its end; it has no
  // parameter to name a token to replace (a `token_sha256_to_refresh` is ignored).
  const now = ctx.now();
  const { token, issuedAt, expiresOn } = await cachedOrMinted(deps, identity, resource, now);
  // IMDS sends every number as a string; `expires_in` is what is left of a cached token.
  const left = String(expiresOn - Math.floor(now.getTime() / 1000));
  return {
    status: 200,
    headers: { server: 'IMDS/dev-authority' },
    json: {
      access_token: token,
      client_id: identity.clientId,
      expires_in: left,
      expires_on: String(expiresOn),
      ext_expires_in: left,
      not_before: String(issuedAt),
      resource: resourceParam,
      token_type: 'Bearer',
    },
  };
}

/** Fills the log fields of an IMDS or Arc request (identity, tenant, scope) before faults match. */
export function describeIdentityRequest(
  ctx: RequestContext,
  directory: Directory,
  systemOnly = false,
): void {
  const q = ctx.url.searchParams;
  const identity = systemOnly ? directory.systemIdentity() : pickIdentity(directory, q);
  const resource = q.get('resource');
  ctx.log.credentialKind = 'managed-identity';
  ctx.log.clientId = identity?.clientId;
  ctx.log.tenantId = identity?.tenantId;
  ctx.log.scope = resource ? `${resource.replace(/\/\.default$/, '')}/.default` : undefined;
}

import type { ArcKeys } from './arc-keys';
import type { Reply, RequestContext } from './http';
import { imdsError, IMDS_TOKEN_PATH } from './imds-endpoint';
import { cachedOrMinted, type ManagedIdentityDeps } from './managed-identity-endpoint';

/**
 * Where the Azure Arc agent emulation answers: its own prefix, since the real agent (HIMDS, at
 * `http://localhost:40342`) uses IMDS's path and both live on this one server.
 */
export const ARC_TOKEN_PATH = `/arc${IMDS_TOKEN_PATH}`;

/** api-versions of the Arc identity endpoint (msal-node sends 2020-06-01). */
const ARC_API_VERSIONS: ReadonlySet<string> = new Set(['2019-11-01', '2020-06-01']);

/** What the Arc endpoint needs from the authority. */
export interface ArcDeps extends Omit<ManagedIdentityDeps, 'header'> {
  keys: ArcKeys;
}

/**
 * `GET {IDENTITY_ENDPOINT}?api-version=2020-06-01&resource=…` with `Metadata: true`: the Azure
 * Arc agent. Without `Authorization` it answers 401 with `WWW-Authenticate: Basic realm=<key file>`;
 * with `Authorization: Basic <content of that file>` it issues the machine's token. The agent has
 * the system-assigned identity only: like the real one, it ignores a user-assigned id and does not
 * echo it, which msal-node reports as "user-assigned identity not confirmed".
 */
export async function handleArc(ctx: RequestContext, deps: ArcDeps): Promise<Reply> {
  const q = ctx.url.searchParams;
  if (ctx.req.headers.metadata !== 'true') {
    return imdsError(400, 'invalid_request', 'Required metadata header not specified');
  }
  const apiVersion = q.get('api-version');
  if (apiVersion === null || !ARC_API_VERSIONS.has(apiVersion)) {
    return imdsError(400, 'invalid_request', `Invalid or missing api-version`);
  }
  const resourceParam = q.get('resource');
  if (!resourceParam) {
    return imdsError(400, 'invalid_request', "Required query variable 'resource' is missing");
  }
  const authorization = ctx.req.headers.authorization;
  if (authorization === undefined) {
    const path = await deps.keys.challenge();
    return {
      status: 401,
      headers: { 'www-authenticate': `Basic realm=${path}` },
      json: {
        error: 'unauthorized',
        error_description: 'Read the key file named by the challenge.',
      },
    };
  }
  const secret = /^Basic (.+)$/.exec(authorization)?.[1]?.trim() ?? '';
  if (!(await deps.keys.redeem(secret))) {
    return imdsError(401, 'unauthorized', 'The key is not one this agent issued, or it expired.');
  }
  const identity = deps.directory.systemIdentity();
  if (identity === undefined) {
    return imdsError(400, 'invalid_request', 'No managed identity is assigned to this machine.');
  }
  const resource = deps.directory.findResource(resourceParam.replace(/\/\.default$/, ''));
  if (resource === undefined) {
    return imdsError(
      400,
      'invalid_resource',
      `AADSTS500011: The resource principal named ${resourceParam} was not found in the tenant named ${identity.tenantId}.`,
    );
  }
  // The agent caches like IMDS: the same token until it nears its end.
  const now = ctx.now();
  const { token, issuedAt, expiresOn } = await cachedOrMinted(deps, identity, resource, now);
  return {
    status: 200,
    json: {
      access_token: token,
      expires_in: String(expiresOn - Math.floor(now.getTime() / 1000)),
      expires_on: String(expiresOn),
      not_before: String(issuedAt),
      resource: resourceParam,
      token_type: 'Bearer',
    },
  };
}

import { agentTokenClaims, exchangeGrant, exchangeTokenClaims } from './agent-id';
import { authenticate, parseBasic } from './client-authentication';
import type { Directory, ResourceRecord } from './directory';
import { authenticateByCertificate, type MtlsClient } from './mtls';
import { EntraError } from './errors';
import type { Reply, RequestContext } from './http';
import { lifetimeFields, missing, type TokenEndpointDeps } from './grant-common';
import { parseClaimsRequest } from './revocation';
import { handleUserFic } from './user-fic';

const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access']);

export { lifetimeFields, type LifetimePolicy, type TokenEndpointDeps } from './grant-common';

/**
 * Checks the tenant segment of a token or discovery URL (a tenant id or a verified domain);
 * returns the canonical tenant id.
 */
export function resolveTenant(directory: Directory, tenant: string): string {
  const t = tenant.toLowerCase();
  if (t === 'common' || t === 'consumers') {
    throw new EntraError(
      9001023,
      'The grant type is not supported over the /common or /consumers endpoints. Please use the ' +
        '/organizations or tenant-specific endpoint.',
    );
  }
  if (t === 'organizations') {
    throw new EntraError(
      50059,
      'No tenant-identifying information found in either the request or implied by any provided ' +
        'credentials.',
    );
  }
  if (!directory.hasTenant(t)) {
    throw new EntraError(
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are ` +
        `signing into the correct cloud. Check with your subscription administrator, this may ` +
        `happen if there are no active subscriptions for the tenant.`,
    );
  }
  return directory.tenantIdOf(t)!;
}

/** Parsed token request bodies: the prelude and the handler of one request read the same form. */
const forms = new WeakMap<RequestContext, URLSearchParams>();

async function formOf(ctx: RequestContext): Promise<URLSearchParams> {
  let form = forms.get(ctx);
  if (form === undefined) {
    form = new URLSearchParams(await ctx.body());
    forms.set(ctx, form);
  }
  return form;
}

/** Reads who a token request is from (before faults and validation), for the request log. */
export async function describeTokenRequest(ctx: RequestContext): Promise<void> {
  const form = await formOf(ctx);
  // Only for the log: a malformed header is answered by handleTokenRequest, not here.
  let basic: ReturnType<typeof parseBasic>;
  try {
    basic = parseBasic(ctx.req.headers.authorization);
  } catch {
    basic = undefined;
  }
  const clientId = form.get('client_id') ?? basic?.clientId;
  ctx.log.tenantId = ctx.params.tenant.toLowerCase();
  ctx.log.clientId = clientId ? clientId.toLowerCase() : undefined;
  ctx.log.scope = form.get('scope') ?? undefined;
  ctx.log.grantType = form.get('grant_type')?.slice(0, 100) ?? undefined;
  // What a claims challenge asked for is a test's to see (bounded: the log is kept for days).
  ctx.log.claims = form.get('claims')?.slice(0, 2000) ?? undefined;
}

/** `POST /{tenant}/oauth2/v2.0/token`, grant `client_credentials` (OAuth 2.0 client credentials flow). */
export async function handleTokenRequest(
  ctx: RequestContext,
  deps: TokenEndpointDeps,
): Promise<Reply> {
  const form = await formOf(ctx);
  const basic = parseBasic(ctx.req.headers.authorization);
  const clientId = (form.get('client_id') ?? basic?.clientId ?? '').toLowerCase();
  const scope = form.get('scope') ?? undefined;
  Object.assign(ctx.log, { clientId: clientId || undefined, scope });

  const tenantId = resolveTenant(deps.directory, ctx.params.tenant);
  ctx.log.tenantId = tenantId;
  const grantType = form.get('grant_type');
  if (!grantType) throw missing('grant_type');
  // An agent user's token (Entra Agent ID): the agent's own grant.
  if (grantType === 'user_fic') return handleUserFic(ctx, deps, form, tenantId, clientId);
  if (grantType !== 'client_credentials') {
    throw new EntraError(70003, `The app requested an unsupported grant type '${grantType}'.`);
  }
  if (!clientId) throw missing('client_id');
  const app = deps.directory.findApp(tenantId, clientId);
  if (app === undefined) {
    throw new EntraError(
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This ` +
        `can happen if the application has not been installed by the administrator of the tenant or ` +
        `consented to by any user in the tenant. You may have sent your authentication request to ` +
        `the wrong tenant.`,
    );
  }
  const resourceId = parseScope(scope);
  // Client capabilities (cp1) and a claims challenge's claims, merged by msal into one parameter.
  const claims = parseClaimsRequest(form.get('claims'));
  let mtls: MtlsClient | undefined;
  if (deps.mtls === true) mtls = authenticateByCertificate(ctx, app, form);
  else await authenticate(ctx, deps, app, form, basic?.secret);
  const resource = deps.directory.findResource(resourceId);
  if (resource === undefined) {
    throw new EntraError(
      500011,
      `The resource principal named ${resourceId} was not found in the tenant named ${tenantId}. ` +
        `This can happen if the application has not been installed by the administrator of the ` +
        `tenant or consented to by any user in the tenant. You might have sent your authentication ` +
        `request to the wrong tenant.`,
    );
  }
  // Entra Agent ID: a blueprint's token exchange token for one of its agents (T1).
  const exchange = exchangeGrant(deps.directory, app, resource, form.get('fmi_path'));
  const policy = deps.lifetime(tenantId);
  const { token } = await deps.issuer.mint({
    tenantId,
    clientId: app.clientId,
    objectId: app.objectId,
    subject: exchange?.subject,
    resource,
    roles: exchange ? [] : rolesFor(deps.directory, resource, app.roles),
    azpacr: ctx.log.credentialKind === 'secret' ? '1' : '2',
    lifetimeSeconds: policy.seconds,
    now: new Date(deps.revocations.issuedAt(tenantId, app.clientId, ctx.now(), claims) * 1000),
    extra: {
      ...(claims?.capabilities.length ? { xms_cc: [...claims.capabilities] } : {}),
      // RFC 8705 §3.1: the token names the certificate it is bound to.
      ...(mtls?.bound ? { cnf: { 'x5t#S256': mtls.thumbprint } } : {}),
      ...(exchange ? exchangeTokenClaims() : agentTokenClaims(app)),
    },
  });
  return {
    status: 200,
    json: {
      token_type: mtls?.bound ? 'mtls_pop' : 'Bearer',
      ...lifetimeFields(policy),
      access_token: token,
    },
  };
}

/** Roles an access token for `resource` carries. */
export function rolesFor(
  directory: Directory,
  resource: ResourceRecord,
  granted: string[],
): string[] {
  if (resource.roles !== undefined) return [...resource.roles];
  return resource === directory.demoApi ? [...granted] : [];
}

/** Client credentials need exactly one `<resource>/.default`; returns the resource part. */
export function parseScope(scope: string | undefined): string {
  if (scope === undefined || scope.trim() === '') throw missing('scope');
  const scopes = scope.split(/\s+/).filter((s) => s && !OIDC_SCOPES.has(s.toLowerCase()));
  const bad = scopes.find((s) => !s.toLowerCase().endsWith('/.default'));
  if (bad !== undefined || scopes.length === 0) {
    throw new EntraError(
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope ` +
        `value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  if (scopes.length > 1) {
    throw new EntraError(
      70011,
      `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
    );
  }
  return scopes[0].slice(0, -'/.default'.length);
}

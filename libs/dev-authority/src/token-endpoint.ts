import type { KeyObject, X509Certificate } from 'node:crypto';
import { validateAssertion } from './assertion';
import { sameSecret, type AppRecord, type Directory, type ResourceRecord } from './directory';
import { EntraError } from './errors';
import type { Reply, RequestContext } from './http';
import { parseClaimsRequest, type Revocations } from './revocation';
import type { TokenIssuer } from './token-issuer';
import type { CryptoKey } from './crypto-types';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access']);

/** Lifetime settings in force for a tenant. */
export interface LifetimePolicy {
  seconds: number;
  refreshInSeconds?: number;
  /** How long before expiry the managed identity endpoints stop answering from their cache. */
  identityCacheMarginSeconds?: number;
}

/** What the token endpoint needs from the authority. */
export interface TokenEndpointDeps {
  origin: string;
  directory: Directory;
  issuer: TokenIssuer;
  clockToleranceSeconds: number;
  sniRoot: X509Certificate;
  lifetime(tenantId: string): LifetimePolicy;
  federatedKey(issuer: string): CryptoKey | KeyObject | undefined;
  /** App ID URI of the resource with this application id or URI. */
  resourceUri(audience: string): string | undefined;
  /** Revoked tokens: a token issued after a revocation is never older than it. */
  revocations: Revocations;
}

/** Builds Entra's `expires_in` / `ext_expires_in` / `refresh_in` fields. */
export function lifetimeFields(policy: LifetimePolicy): Record<string, number> {
  // Entra sends refresh_in for long-lived tokens (2 h and more): half the lifetime.
  const refreshIn =
    policy.refreshInSeconds ??
    (policy.seconds >= 7200 ? Math.floor(policy.seconds / 2) : undefined);
  return {
    expires_in: policy.seconds,
    ext_expires_in: policy.seconds,
    ...(refreshIn !== undefined ? { refresh_in: refreshIn } : {}),
  };
}

/** Checks the tenant segment of a token or discovery URL; returns the canonical tenant id. */
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
  return t;
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
  await authenticate(ctx, deps, app, form, basic?.secret);
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
  const policy = deps.lifetime(tenantId);
  const { token } = await deps.issuer.mint({
    tenantId,
    clientId: app.clientId,
    objectId: app.objectId,
    resource,
    roles: rolesFor(deps.directory, resource, app.roles),
    azpacr: ctx.log.credentialKind === 'secret' ? '1' : '2',
    lifetimeSeconds: policy.seconds,
    now: new Date(deps.revocations.issuedAt(tenantId, app.clientId, ctx.now(), claims) * 1000),
    extra: claims?.capabilities.length ? { xms_cc: [...claims.capabilities] } : undefined,
  });
  return {
    status: 200,
    json: { token_type: 'Bearer', ...lifetimeFields(policy), access_token: token },
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

function missing(name: string): EntraError {
  return new EntraError(
    900144,
    `The request body must contain the following parameter: '${name}'.`,
  );
}

/** Client credentials need exactly one `<resource>/.default`; returns the resource part. */
function parseScope(scope: string | undefined): string {
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

/**
 * Client id and secret of an HTTP Basic `Authorization` header (RFC 6749 section 2.3.1); undefined
 * without one. A Basic header that does not decode (not base64, no colon, a bad `%` escape) is
 * answered as Entra answers a malformed request, AADSTS9002313, rather than ignored or a 500.
 */
function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const encoded = header.slice(6).trim();
  // Buffer.from(…, 'base64') skips what is not base64; a header it half-read must not pass.
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded)
    ? Buffer.from(encoded, 'base64').toString('utf8')
    : '';
  const colon = decoded.indexOf(':');
  // Both parts are form-urlencoded before Basic encoding; decodeURIComponent throws URIError on
  // a bad escape.
  const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    if (colon < 0) throw new URIError('no colon');
    return { clientId: dec(decoded.slice(0, colon)), secret: dec(decoded.slice(colon + 1)) };
  } catch {
    throw new EntraError(9002313, 'Invalid request. Request is malformed or invalid.');
  }
}

async function authenticate(
  ctx: RequestContext,
  deps: TokenEndpointDeps,
  app: AppRecord,
  form: URLSearchParams,
  basicSecret: string | undefined,
): Promise<void> {
  const secret = form.get('client_secret') ?? basicSecret;
  const assertion = form.get('client_assertion');
  if (secret !== undefined && secret !== null) {
    ctx.log.credentialKind = 'secret';
    const found = app.secrets.find((s) => sameSecret(s.value, secret));
    if (found === undefined) {
      throw new EntraError(
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client ` +
          `secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    }
    if (found.expiresAt <= ctx.now()) {
      throw new EntraError(
        7000222,
        `The provided client secret keys for app '${app.clientId}' are expired. Visit the Azure ` +
          `portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using ` +
          `certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    }
    return;
  }
  if (assertion === null) {
    throw new EntraError(
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
  }
  ctx.log.credentialKind = 'assertion';
  if (form.get('client_assertion_type') !== JWT_BEARER) {
    throw new EntraError(7000219, `'client_assertion_type' must be '${JWT_BEARER}'.`);
  }
  const tokenUrl = `${deps.origin}/${app.tenantId}/oauth2/v2.0/token`;
  const result = await validateAssertion(assertion, {
    app,
    audiences: [
      tokenUrl,
      `${deps.origin}/${app.tenantId}/oauth2/token`,
      deps.issuer.issuer(app.tenantId),
    ],
    now: ctx.now(),
    clockToleranceSeconds: deps.clockToleranceSeconds,
    sniRoot: deps.sniRoot,
    federatedKey: deps.federatedKey,
    resourceUri: deps.resourceUri,
  }).catch((err: unknown) => {
    // Record what was attempted even when it failed.
    ctx.log.credentialKind = guessKind(assertion);
    throw err;
  });
  ctx.log.credentialKind = result.kind;
  ctx.log.jti = result.jti;
}

function guessKind(assertion: string): RequestContext['log']['credentialKind'] {
  try {
    const [h, p] = assertion
      .split('.')
      .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()) as Record<string, unknown>);
    if (Array.isArray(h.x5c)) return 'sni-certificate';
    if (h.x5t !== undefined || h['x5t#S256'] !== undefined) return 'certificate';
    return p.iss !== p.sub || typeof p.iss !== 'string' ? 'federated' : 'assertion';
  } catch {
    return 'assertion';
  }
}

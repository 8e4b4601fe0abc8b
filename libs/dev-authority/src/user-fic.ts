import { compactVerify, decodeJwt, type JWTPayload } from 'jose';
import { parseBasic, authenticate } from './client-authentication';
import { TOKEN_EXCHANGE_APP_ID, type AgentUserRecord, type AppRecord } from './directory';
import { EntraError } from './errors';
import type { Reply, RequestContext } from './http';
import { lifetimeFields, missing, type TokenEndpointDeps } from './grant-common';
import { parseClaimsRequest } from './revocation';

/*
 * The `user_fic` grant of Microsoft Entra Agent ID: an agent identity gets a delegated token of its
 * agent user. Client assertion: its blueprint's token exchange token (T1); the user's federated
 * credential: the agent's own token for the token exchange audience (T2); the user by object id
 * (`user_id`) or UPN (`username`). Sources and inferred codes: docs/dev-authority.md.
 */

const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `POST /{tenant}/oauth2/v2.0/token` with `grant_type=user_fic`. */
export async function handleUserFic(
  ctx: RequestContext,
  deps: TokenEndpointDeps,
  form: URLSearchParams,
  tenantId: string,
  clientId: string,
): Promise<Reply> {
  if (!clientId) throw missing('client_id');
  const agent = deps.directory.findApp(tenantId, clientId);
  if (agent === undefined) {
    throw new EntraError(
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
    );
  }
  if (agent.parentBlueprint === undefined) {
    throw new EntraError(70003, `The app requested an unsupported grant type 'user_fic'.`);
  }
  await authenticate(ctx, deps, agent, form, parseBasic(ctx.req.headers.authorization)?.secret);
  const t2 = form.get('user_federated_identity_credential');
  if (!t2) throw missing('user_federated_identity_credential');
  await checkAgentToken(t2, agent, deps, ctx.now());
  const user = agentUser(form, agent, deps, tenantId);
  const { resource, scopes } = grantedScopes(form.get('scope'), user, agent, deps);
  // Client capabilities (cp1) and a claims challenge's claims, as the client credentials grant
  // reads them: a token issued after the agent's revocation, or the challenge's `nbf`.
  const claims = parseClaimsRequest(form.get('claims'));
  const policy = deps.lifetime(tenantId);
  const { token } = await deps.issuer.mint({
    tenantId,
    clientId: agent.clientId,
    objectId: user.objectId,
    resource,
    roles: [],
    azpacr: '2',
    lifetimeSeconds: policy.seconds,
    now: new Date(deps.revocations.issuedAt(tenantId, agent.clientId, ctx.now(), claims) * 1000),
    extra: {
      ...(claims?.capabilities.length ? { xms_cc: [...claims.capabilities] } : {}),
      idtyp: 'user',
      scp: scopes.join(' '),
      upn: user.userPrincipalName,
      preferred_username: user.userPrincipalName,
      name: user.userPrincipalName.split('@')[0],
      xms_par_app_azp: agent.parentBlueprint,
      xms_act_fct: '1 9 11',
      xms_sub_fct: '1 13',
    },
  });
  const clientInfo = Buffer.from(JSON.stringify({ uid: user.objectId, utid: tenantId })).toString(
    'base64url',
  );
  return {
    status: 200,
    json: {
      token_type: 'Bearer',
      scope: [...scopes, ...OIDC_SCOPES].join(' '),
      ...lifetimeFields(policy),
      access_token: token,
      client_info: clientInfo,
    },
  };
}

/**
 * T2, the agent's own token for the token exchange audience, as the user's federated credential:
 * signed here, of this tenant, issued to this agent, for the token exchange app, within its life.
 * @throws EntraError 50013 (invalid assertion)
 */
async function checkAgentToken(
  t2: string,
  agent: AppRecord,
  deps: TokenEndpointDeps,
  now: Date,
): Promise<void> {
  const invalid = (why: string) =>
    new EntraError(50013, `Assertion failed signature validation. [Reason - ${why}]`);
  let claims: JWTPayload;
  try {
    await compactVerify(t2, deps.issuer.publicKey, { algorithms: ['RS256'] });
    claims = decodeJwt(t2);
  } catch {
    throw invalid('The user_federated_identity_credential is not a token of this authority.');
  }
  if (claims.iss !== deps.issuer.issuer(agent.tenantId) || claims.aud !== TOKEN_EXCHANGE_APP_ID) {
    throw invalid("The assertion's issuer or audience is not the token exchange of this tenant.");
  }
  if (claims.azp !== agent.clientId) {
    throw invalid(
      `The assertion was issued to '${String(claims.azp)}', not to the agent identity.`,
    );
  }
  const t = now.getTime() / 1000;
  const tolerance = deps.clockToleranceSeconds;
  if ((claims.exp ?? 0) + tolerance < t || (claims.nbf ?? 0) - tolerance > t) {
    throw invalid('The assertion is not within its valid time range.');
  }
}

/**
 * AADSTS50000 `server_error`, as Entra answers a misconfigured agent user (microsoft/Agents-for-js
 * #932 quotes the body, not the status; docs/agents.md). No source gives its HTTP status: 400 here,
 * a refusal of the request — the library reads 50000 on this grant as one whatever the status.
 */
function tokenIssuanceError(): EntraError {
  return new EntraError(
    50000,
    'There was an error issuing a token or an issue with our sign-in service.',
    { status: 400 },
  );
}

/**
 * The agent user named by `user_id` (object id) or `username` (UPN), which must be this agent's.
 * @throws EntraError 50000 (a UPN in `user_id`, or an agent user not linked to this agent, as
 *   Entra answers them), 50034 (no such user)
 */
function agentUser(
  form: URLSearchParams,
  agent: AppRecord,
  deps: TokenEndpointDeps,
  tenantId: string,
): AgentUserRecord {
  const userId = form.get('user_id');
  const username = form.get('username');
  if (userId === null && username === null) throw missing('username');
  if (userId !== null && !GUID.test(userId)) throw tokenIssuanceError();
  const user = deps.directory.findAgentUser(
    tenantId,
    userId !== null ? { objectId: userId } : { userPrincipalName: username! },
  );
  if (user === undefined) {
    const who = (userId ?? username ?? '').slice(0, 100);
    throw new EntraError(
      50034,
      `The user account ${who} does not exist in the ${tenantId} directory.`,
    );
  }
  // Another agent's user (its identityParentId is not this agent).
  if (user.agentId !== agent.clientId) throw tokenIssuanceError();
  return user;
}

/**
 * The resource of the requested delegated scopes and those granted to the agent for the user
 * (`<resource>/.default` asks for every granted one, and comes alone: Entra refuses it combined
 * with other scopes of the resource).
 * @throws EntraError 70011 (no scope, scopes of several resources, `.default` with other scopes),
 *   500011 (no such resource), 65001 (a scope not granted)
 */
function grantedScopes(
  scope: string | null,
  user: AgentUserRecord,
  agent: AppRecord,
  deps: TokenEndpointDeps,
) {
  const asked = (scope ?? '').split(/\s+/).filter((s) => s && !OIDC_SCOPES.has(s.toLowerCase()));
  const split = asked.map((s) => {
    const at = s.lastIndexOf('/');
    return { resource: s.slice(0, at), name: s.slice(at + 1) };
  });
  const resources = new Set(split.map((s) => s.resource.toLowerCase()));
  const mixed = split.length > 1 && split.some((s) => s.name === '.default');
  if (
    split.length === 0 ||
    resources.size !== 1 ||
    mixed ||
    split.some((s) => !s.resource || !s.name)
  ) {
    throw new EntraError(
      70011,
      `The provided value for the input parameter 'scope' is not valid. The scope ${scope ?? ''} is not valid.`,
    );
  }
  const resource = deps.directory.findResource(split[0].resource);
  if (resource === undefined) {
    throw new EntraError(
      500011,
      `The resource principal named ${split[0].resource} was not found in the tenant named ${user.tenantId}.`,
    );
  }
  const names = split.map((s) => s.name);
  const scopes = names.includes('.default') ? [...user.scopes] : names;
  if (scopes.length === 0 || scopes.some((s) => !user.scopes.includes(s))) {
    throw new EntraError(
      65001,
      `The user or administrator has not consented to use the application with ID '${agent.clientId}'. Send an interactive authorization request for this user and resource.`,
    );
  }
  return { resource, scopes };
}

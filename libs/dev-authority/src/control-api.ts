import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, writeReply, type Reply } from './http';
import type { AgentBlueprint, AgentIdentity, App, DevAuthority, FaultSpec } from './types';

/** What the control API drives: the in-process handle plus app lookup. */
export interface Controllable extends DevAuthority {
  app(tenantId: string, clientId: string): App | undefined;
  /** An agent identity blueprint of a tenant, and an agent identity, by app id. */
  agentBlueprint(tenantId: string, clientId: string): AgentBlueprint | undefined;
  agentIdentity(tenantId: string, clientId: string): AgentIdentity | undefined;
  /** Revokes the tokens an app was issued before now; returns that instant (epoch s). */
  revokeTokens(
    tenantId: string,
    clientId: string,
    challenge?: 'insufficient_claims' | 'invalid_token',
  ): number;
}

type Json = Record<string, unknown>;

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const ok = (json: unknown, status = 200): Reply => ({ status, json });
const bad = (message: string, status = 400): Reply => ({ status, json: { error: message } });

/**
 * Loopback-only HTTP control surface under `/_control` for standalone runs; every request needs the
 * `x-control-token` header (the token is in the manifest). Endpoints are listed in
 * docs/dev-authority.md.
 */
export function createControlApi(authority: Controllable) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const token = req.headers['x-control-token'];
    if (!isLoopback(req.socket.remoteAddress)) {
      writeReply(res, bad('the control API answers loopback clients only', 403));
      return;
    }
    if (typeof token !== 'string' || !sameToken(token, authority.control.token)) {
      writeReply(res, bad('missing or wrong x-control-token', 401));
      return;
    }
    try {
      const text = req.method === 'GET' || req.method === 'DELETE' ? '' : await readBody(req);
      const body = (text ? JSON.parse(text) : {}) as Json;
      writeReply(res, await route(authority, req.method ?? 'GET', url, body));
    } catch (err) {
      writeReply(res, bad(err instanceof Error ? err.message : String(err)));
    }
  };
}

async function route(a: Controllable, method: string, url: URL, body: Json): Promise<Reply> {
  const parts = url.pathname.split('/').filter(Boolean).slice(1);
  const key = `${method} /${parts.map((p, i) => (isParam(parts, i) ? ':' : p)).join('/')}`;
  const str = (k: string) => (typeof body[k] === 'string' ? body[k] : undefined);
  const date = (k: string) => (str(k) !== undefined ? new Date(str(k)!) : undefined);
  const roles = Array.isArray(body.roles) ? (body.roles as string[]) : undefined;
  const app = () => {
    const found = a.app(parts[1], parts[3]);
    if (found === undefined) throw new Error(`no app ${parts[3]} in tenant ${parts[1]}`);
    return found;
  };
  switch (key) {
    case 'GET /':
      return ok({
        url: a.url,
        apiUrl: a.apiUrl,
        mtlsUrl: a.mtlsUrl,
        apiScope: a.apiScope,
        managedIdentity: a.managedIdentity,
      });
    case 'POST /tenants':
      return ok({ tenantId: a.createTenant({ tenantId: str('tenantId') }).tenantId }, 201);
    case 'POST /tenants/:/apps': {
      const created = a
        .createTenant({ tenantId: parts[1] })
        .createApp({ displayName: str('displayName'), roles });
      return ok(
        { tenantId: created.tenantId, clientId: created.clientId, objectId: created.objectId },
        201,
      );
    }
    case 'POST /tenants/:/agent-blueprints': {
      const created = a
        .createTenant({ tenantId: parts[1] })
        .createAgentBlueprint({ displayName: str('displayName'), roles });
      return ok(
        { tenantId: created.tenantId, clientId: created.clientId, objectId: created.objectId },
        201,
      );
    }
    case 'POST /tenants/:/agent-blueprints/:/agents': {
      const blueprint = a.agentBlueprint(parts[1], parts[3]);
      if (blueprint === undefined)
        throw new Error(`no blueprint ${parts[3]} in tenant ${parts[1]}`);
      const { createAgentUser: _, ...agent } = blueprint.createAgentIdentity({
        displayName: str('displayName'),
        roles,
      });
      return ok(agent, 201);
    }
    case 'POST /tenants/:/agents/:/users': {
      const agent = a.agentIdentity(parts[1], parts[3]);
      if (agent === undefined)
        throw new Error(`no agent identity ${parts[3]} in tenant ${parts[1]}`);
      const scopes = Array.isArray(body.scopes) ? (body.scopes as string[]) : undefined;
      return ok(
        agent.createAgentUser({ userPrincipalName: str('userPrincipalName'), scopes }),
        201,
      );
    }
    case 'POST /tenants/:/apps/:/secrets':
      return ok({ secret: app().addSecret({ expiresAt: date('expiresAt') }) }, 201);
    case 'POST /tenants/:/apps/:/certificates':
      return ok(
        await app().addCertificate({ expiresAt: date('expiresAt'), subject: str('subject') }),
        201,
      );
    case 'POST /tenants/:/apps/:/sni-certificates':
      return ok(await app().addSniCertificate({ subject: str('subject') }), 201);
    case 'POST /tenants/:/apps/:/revoke': {
      const challenge = str('challenge');
      if (
        challenge !== undefined &&
        challenge !== 'insufficient_claims' &&
        challenge !== 'invalid_token'
      )
        return bad("challenge must be 'insufficient_claims' or 'invalid_token'");
      return ok({ revokedBefore: a.revokeTokens(parts[1], parts[3], challenge) });
    }
    case 'POST /tenants/:/apps/:/federated-credentials':
      app().addFederatedCredential({
        issuer: str('issuer') ?? '',
        subject: str('subject') ?? '',
        audience: str('audience'),
      });
      return ok({}, 201);
    case 'POST /resources':
      a.createResource({ appIdUri: str('appIdUri') ?? '', roles });
      return ok({ scope: `${str('appIdUri')}/.default` }, 201);
    case 'POST /managed-identities':
      return ok(
        a.createManagedIdentity({
          tenantId: str('tenantId') ?? '',
          kind: str('kind') === 'system' ? 'system' : 'user',
          roles,
        }),
        201,
      );
    case 'PUT /token-lifetime':
      a.setAccessTokenLifetime(Number(body.seconds), {
        tenantId: str('tenantId'),
        refreshInSeconds:
          body.refreshInSeconds === undefined ? undefined : Number(body.refreshInSeconds),
        identityCacheMarginSeconds:
          body.identityCacheMarginSeconds === undefined
            ? undefined
            : Number(body.identityCacheMarginSeconds),
      });
      return ok({});
    case 'POST /faults':
      return ok({ id: a.faults.add(body as unknown as FaultSpec) }, 201);
    case 'DELETE /faults/:':
      a.faults.remove(parts[1]);
      return ok({});
    case 'DELETE /faults':
      a.faults.clear();
      return ok({});
    case 'GET /log':
      return ok({ entries: a.log });
    case 'DELETE /log':
      a.resetLog();
      return ok({});
    case 'GET /counters': {
      const q = url.searchParams;
      const outcome = q.get('outcome') as 'ok' | 'error' | 'fault' | null;
      return ok({
        tokenRequests: a.countTokenRequests({
          tenantId: q.get('tenantId') ?? undefined,
          clientId: q.get('clientId') ?? undefined,
          scope: q.get('scope') ?? undefined,
          outcome: outcome ?? undefined,
        }),
      });
    }
    case 'POST /external-issuer/tokens':
      return ok({
        token: await a.externalIssuer.mintToken({
          subject: str('subject') ?? '',
          audience: str('audience'),
          lifetimeSeconds:
            body.lifetimeSeconds === undefined ? undefined : Number(body.lifetimeSeconds),
        }),
      });
    default:
      return bad(`unknown control endpoint ${key}`, 404);
  }
}

/**
 * Path positions holding ids: /tenants/:id/apps/:id/..., /tenants/:id/agent-blueprints/:id/...,
 * /tenants/:id/agents/:id/..., /faults/:id.
 */
function isParam(parts: string[], i: number): boolean {
  return (parts[0] === 'tenants' && (i === 1 || i === 3)) || (parts[0] === 'faults' && i === 1);
}

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { entraErrorBody, EntraError } from './errors';
import type { Faults } from './faults';
import { readBody, writeReply, type Reply, type RequestContext, type Router } from './http';
import type { RequestLog } from './request-log';
import type { FaultSpec, FaultTarget } from './types';

/*
 * Plain node:https with a small router rather than a framework: fault injection needs control of the
 * socket (connection resets), of raw bodies (HTML 502, non-JSON 200) and of timing (latency).
 */

/** A routed endpoint. */
export interface Route {
  target: FaultTarget;
  handle(ctx: RequestContext): Promise<Reply>;
  /**
   * Fills `ctx.log` (tenant, client, scope) before faults are matched, so faulted requests are
   * counted per tenant and client too.
   */
  prelude?(ctx: RequestContext): Promise<void>;
}

/** What the dispatcher needs. */
export interface DispatchDeps {
  origin: string;
  router: Router<Route>;
  faults: Faults;
  log: RequestLog;
  sleep(ms: number): Promise<void>;
  control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

/**
 * Another cloud's metadata service at IMDS's address (169.254.169.254 off Azure), by status: AWS
 * IMDSv1's 404 page, AWS IMDSv2-only's empty 401 (no session token), GCP's 403 for a request
 * without `Metadata-Flavor: Google`.
 */
const FOREIGN_METADATA: Record<
  number,
  { text: string; contentType: string; headers: Record<string, string> }
> = {
  404: {
    contentType: 'text/html',
    headers: { server: 'EC2ws' },
    text: '<?xml version="1.0" encoding="iso-8859-1"?>\n<html><head><title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n',
  },
  401: { contentType: 'text/plain', headers: { server: 'EC2ws' }, text: '' },
  403: {
    contentType: 'text/html',
    headers: { 'metadata-flavor': 'Google', server: 'Metadata Server for VM' },
    text: 'Missing Metadata-Flavor:Google header.\n',
  },
};

const HTML_502 =
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>' +
  '</center><hr><center>dev-authority gateway</center></body></html>';

/** Handles one request: control API, or route + faults + request log. */
export async function dispatch(
  deps: DispatchDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', deps.origin);
  if (url.pathname === '/_control' || url.pathname.startsWith('/_control/')) {
    return deps.control(req, res, url);
  }
  const method = req.method ?? 'GET';
  const matched = deps.router.match(method, url.pathname);
  if (matched === undefined || 'methodNotAllowed' in matched) {
    const status = matched === undefined ? 404 : 405;
    writeReply(res, {
      status,
      json: { error: status === 404 ? 'not_found' : 'method_not_allowed' },
    });
    return;
  }
  const route = matched.value;
  let bodyPromise: Promise<string> | undefined;
  let shift = 0;
  const correlationId =
    url.searchParams.get('client-request-id') ?? header(req, 'client-request-id') ?? undefined;
  const ctx: RequestContext = {
    req,
    url,
    params: matched.params,
    now: () => new Date(Date.now() + shift * 1000),
    log: {},
    body: () => (bodyPromise ??= readBody(req)),
  };
  const at = new Date();
  await route.prelude?.(ctx);
  const tenantId = ctx.log.tenantId?.toLowerCase();
  const decision = deps.faults.decide(route.target, tenantId);
  shift = decision.clockShiftSeconds;
  if (decision.latencyMs > 0) await deps.sleep(decision.latencyMs);
  const base = { at, target: route.target, method, path: url.pathname, tenantId };

  if (decision.answer !== undefined) {
    const status = applyFault(decision.answer, req, res, deps.origin, ctx.now(), correlationId);
    deps.log.add({ ...base, ...ctx.log, status, outcome: 'fault', fault: decision.answer.kind });
    return;
  }
  let reply: Reply;
  try {
    reply = await route.handle(ctx);
  } catch (err) {
    if (!(err instanceof EntraError)) throw err;
    ctx.log.errorCode = err.code;
    reply = {
      status: err.status,
      json: entraErrorBody(err, deps.origin, ctx.now(), correlationId),
    };
  }
  reply.headers = { ...reply.headers, 'x-ms-request-id': randomUUID() };
  if (correlationId !== undefined) reply.headers['client-request-id'] = correlationId;
  deps.log.add({
    ...base,
    ...ctx.log,
    tenantId: ctx.log.tenantId ?? tenantId,
    status: reply.status,
    outcome: reply.status < 400 ? 'ok' : 'error',
  });
  writeReply(res, reply);
}

/**
 * The server's `request` listener: {@link dispatch}, and for an error of this authority (a bug, not
 * an answer Entra gives) still Entra's 500 body, which clients parse, without the error's own text
 * (it could carry request content).
 */
export function requestListener(
  deps: DispatchDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    dispatch(deps, req, res).catch(() => {
      if (res.headersSent) return;
      const err = new EntraError(
        50000,
        'There was an error issuing a token or an issue with our sign-in service.',
      );
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(entraErrorBody(err, deps.origin, new Date())));
    });
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Answers with a fault; returns the status written (0 for a reset). */
function applyFault(
  fault: FaultSpec,
  req: IncomingMessage,
  res: ServerResponse,
  origin: string,
  now: Date,
  correlationId: string | undefined,
): number {
  switch (fault.kind) {
    case 'reset': {
      // An https socket is a TLS wrapper; the RST has to go through the TCP socket underneath.
      const raw = (req.socket as { _parent?: Socket })._parent ?? req.socket;
      try {
        raw.resetAndDestroy();
      } catch {
        req.socket.destroy();
      }
      return 0;
    }
    case 'html502':
      writeReply(res, { status: 502, text: HTML_502, contentType: 'text/html' });
      return 502;
    case 'foreign-metadata': {
      const answer = FOREIGN_METADATA[fault.status ?? 404] ?? FOREIGN_METADATA[404];
      writeReply(res, { status: fault.status ?? 404, ...answer });
      return fault.status ?? 404;
    }
    case 'non-json':
      writeReply(res, { status: 200, text: 'upstream answered: OK (this is not JSON)' });
      return 200;
    case 'throttle': {
      const err = new EntraError(
        90055,
        'There are too many incoming requests. Please try again later.',
      );
      writeReply(res, {
        status: 429,
        headers: { 'retry-after': String(fault.retryAfterSeconds ?? 1) },
        json: entraErrorBody(err, origin, now, correlationId),
      });
      return 429;
    }
    default: {
      const status = fault.status ?? 500;
      const retryAfter: Record<string, string> =
        fault.retryAfterSeconds !== undefined
          ? { 'retry-after': String(fault.retryAfterSeconds) }
          : {};
      // Not every endpoint answers a failure in JSON: an empty body, or a proxy's text.
      if (fault.body === 'empty' || fault.body === 'text') {
        const text = fault.body === 'empty' ? '' : `${status} upstream not ready\n`;
        writeReply(res, { status, headers: retryAfter, text });
        return status;
      }
      const err =
        status === 503
          ? new EntraError(90006, 'The service is temporarily unavailable. Please try again.')
          : new EntraError(
              50000,
              'There was an error issuing a token or an issue with our sign-in service.',
              {
                status,
              },
            );
      writeReply(res, {
        status,
        headers: retryAfter,
        json: entraErrorBody(err, origin, now, correlationId),
      });
      return status;
    }
  }
}

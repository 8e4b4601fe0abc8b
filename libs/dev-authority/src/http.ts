import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestLogEntry } from './types';

/** An answer a handler produces; the server writes it (or a fault replaces it). */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON unless `text` is given. */
  json?: unknown;
  text?: string;
  contentType?: string;
}

/** Per-request state handed to handlers. */
export interface RequestContext {
  req: IncomingMessage;
  url: URL;
  /** Route parameters, e.g. `tenant`. */
  params: Record<string, string>;
  /** The authority's clock for this request (fault 'clock-shift' moves it). */
  now(): Date;
  /** Fields handlers add to the request log entry. */
  log: Partial<RequestLogEntry>;
  /** The request body as text (read once, limited to 1 MiB). */
  body(): Promise<string>;
}

const MAX_BODY = 1024 * 1024;

/** Reads a request body as UTF-8 text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Writes a reply; JSON gets `Cache-Control: no-store` like Entra's token answers. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  const body = reply.text ?? JSON.stringify(reply.json ?? {});
  const type =
    reply.contentType ??
    (reply.text === undefined ? 'application/json; charset=utf-8' : 'text/plain');
  res.writeHead(reply.status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store, no-cache',
    ...reply.headers,
  });
  res.end(body);
}

/** A tiny path router: patterns like `/:tenant/oauth2/v2.0/token`. */
export class Router<T> {
  private readonly routes: { method: string; parts: string[]; value: T }[] = [];

  add(method: string, pattern: string, value: T): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), value });
    return this;
  }

  match(
    method: string,
    path: string,
  ): { value: T; params: Record<string, string> } | { methodNotAllowed: true } | undefined {
    const parts = path.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((p, i) => {
        if (p.startsWith(':')) {
          params[p.slice(1)] = decodeSegment(parts[i]);
          return true;
        }
        return p.toLowerCase() === parts[i].toLowerCase();
      });
      if (!ok) continue;
      if (route.method !== method) {
        pathMatched = true;
        continue;
      }
      return { value: route.value, params };
    }
    return pathMatched ? { methodNotAllowed: true } : undefined;
  }
}

/** A path segment decoded; one with a bad `%` escape stays as sent (an unknown tenant, not a 500). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

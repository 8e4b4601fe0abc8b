import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { Agent, fetch as undiciFetch } from 'undici';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import type { OidcAuthority } from './oidc-authority';

/** What the resource server answered, one entry per request. */
export interface ResourceRequest {
  status: number;
  /** Why it refused: oauth4webapi's message, or `use_dpop_nonce`. */
  error?: string;
  /** The proof's nonce, when it had one. */
  nonce?: string;
}

/**
 * A resource server (an API) that accepts DPoP-bound JWT access tokens of `authority`, verified by
 * oauth4webapi's `validateJwtAccessToken` (RFC 9068 + RFC 9449: the token's signature, issuer,
 * audience and lifetime; the proof's signature, `htm`, `htu`, `ath`, `iat` and its key's thumbprint
 * against `cnf.jkt`). What that function leaves to its caller, this server checks: its own nonce
 * (RFC 9449 §9, `DPoP-Nonce`, rotated with {@link rotateNonce}) and one use of each proof's `jti`.
 */
export interface DpopResource {
  /** `https://127.0.0.1:P/api` */
  baseUrl: string;
  caPem: string;
  requests: ResourceRequest[];
  /**
   * The nonce proofs must carry from now on (none until the first rotation). A request to a path
   * ending in `/nonce-forever` rotates it and is refused `use_dpop_nonce`, every time.
   */
  rotateNonce(): string;
  close(): Promise<void>;
}

export async function startDpopResource(authority: OidcAuthority): Promise<DpopResource> {
  const ca = await createCa('DPoP resource test CA');
  const tls = await issueCertificate({ subject: 'localhost', issuer: ca, kind: 'server' });
  const trusting = new Agent({ connect: { ca: [authority.caPem] } });
  const as: oauth.AuthorizationServer = { issuer: authority.issuer, jwks_uri: authority.jwksUri };
  const requests: ResourceRequest[] = [];
  const seen = new Set<string>();
  let nonce: string | undefined;
  const refuse = (res: ServerResponse, error: string, description: string) => {
    requests.push({ status: 401, error: description });
    res.setHeader(
      'www-authenticate',
      `DPoP error="${error}", error_description="${description.replace(/"/g, "'")}", algs="ES256 PS256 RS256"`,
    );
    if (nonce !== undefined) res.setHeader('dpop-nonce', nonce);
    res.statusCode = 401;
    res.end();
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, base: string) => {
    const request = new Request(`${base}${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
    });
    let claims: oauth.JWTAccessTokenClaims;
    try {
      claims = await oauth.validateJwtAccessToken(as, request, 'api://oidc-api', {
        [oauth.customFetch]: (url, init) =>
          // undici's fetch types its Response apart from the global one.
          undiciFetch(url, {
            ...init,
            dispatcher: trusting,
          }) as Promise<unknown> as Promise<Response>,
        [oauth.allowInsecureRequests]: false,
      });
    } catch (e) {
      return refuse(res, 'invalid_token', (e as Error).message);
    }
    const proof = req.headers.dpop as string;
    const { jti, nonce: sent } = decodeJwt(proof) as { jti: string; nonce?: string };
    if (req.url?.endsWith('/nonce-forever')) {
      // A server that never accepts its own nonce: a new one with every answer.
      nonce = randomBytes(16).toString('base64url');
      return refuse(res, 'use_dpop_nonce', 'nonce');
    }
    if (nonce !== undefined && sent !== nonce) return refuse(res, 'use_dpop_nonce', 'nonce');
    if (seen.has(jti)) return refuse(res, 'invalid_dpop_proof', 'DPoP proof replayed');
    seen.add(jti);
    if (req.method === 'POST' && req.url?.endsWith('/orders')) {
      // An order made: 303 to it, with a new nonce (a server may rotate it with any answer).
      requests.push({ status: 303, nonce: sent });
      nonce = randomBytes(16).toString('base64url');
      res.writeHead(303, { location: `${req.url}/1`, 'dpop-nonce': nonce });
      res.end();
      return;
    }
    requests.push({ status: 200, nonce: sent });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, client: claims.client_id, jkt: claims.cnf?.jkt }));
  };
  const server: Server = createServer(
    { key: tls.privateKeyPem, cert: tls.certificatePem },
    (req, res) => {
      const { port } = server.address() as AddressInfo;
      void handle(req, res, `https://127.0.0.1:${port}`).catch((e: Error) => {
        res.statusCode = 500;
        res.end(e.message);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `https://127.0.0.1:${port}/api`,
    caPem: ca.certificatePem,
    requests,
    rotateNonce: () => (nonce = randomBytes(16).toString('base64url')),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await trusting.close();
    },
  };
}

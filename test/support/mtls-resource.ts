import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import type { OidcAuthority } from './oidc-authority';
import { certificateThumbprint, peerCertificate } from './tls-client-certificate';

/** What the resource server answered, one entry per request. */
export interface MtlsResourceRequest {
  status: number;
  /** Why it refused. */
  error?: string;
  /** The `x5t#S256` of the client certificate the connection presented, if any. */
  certificate?: string;
}

/**
 * A resource server (an API) that accepts certificate-bound JWT access tokens of `authority`
 * (RFC 8705 §3): the token verified with jose (signature against the issuer's JWKS, issuer,
 * audience, lifetime, `typ: at+jwt`), then its `cnf.x5t#S256` compared with the certificate the
 * TLS connection presented — which the listener asks for (`requestCert`) and Node reads. A token
 * bound to a certificate is refused on a connection that presents none or another.
 */
export interface MtlsResource {
  /** `https://127.0.0.1:P/api` */
  baseUrl: string;
  caPem: string;
  requests: MtlsResourceRequest[];
  /** TLS connections accepted since start. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startMtlsResource(authority: OidcAuthority): Promise<MtlsResource> {
  const ca = await createCa('mTLS resource test CA');
  const tls = await issueCertificate({ subject: 'localhost', issuer: ca, kind: 'server' });
  const trusting = new Agent({ connect: { ca: [authority.caPem] } });
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  const requests: MtlsResourceRequest[] = [];
  let connections = 0;
  const answer = (res: ServerResponse, entry: MtlsResourceRequest, body?: object) => {
    requests.push(entry);
    res.statusCode = entry.status;
    if (entry.status === 401) {
      res.setHeader(
        'www-authenticate',
        `Bearer error="invalid_token", error_description="${entry.error?.replace(/"/g, "'")}"`,
      );
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body ?? { ok: false, error: entry.error }));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const presented = peerCertificate(req.socket);
    const certificate = presented && certificateThumbprint(presented);
    const bearer = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined)
      return answer(res, { status: 401, error: 'no bearer token', certificate });
    keys ??= createLocalJWKSet(
      (await (
        await undiciFetch(authority.jwksUri, { dispatcher: trusting })
      ).json()) as JSONWebKeySet,
    );
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(bearer, keys, {
        issuer: authority.issuer,
        audience: 'api://oidc-api',
        typ: 'at+jwt',
      }));
    } catch (e) {
      return answer(res, { status: 401, error: (e as Error).message, certificate });
    }
    const bound = (claims.cnf as { 'x5t#S256'?: string } | undefined)?.['x5t#S256'];
    if (bound !== undefined && bound !== certificate) {
      const error =
        certificate === undefined
          ? 'the token is bound to a certificate the connection did not present'
          : 'the token is bound to another certificate than the one presented';
      return answer(res, { status: 401, error, certificate });
    }
    answer(res, { status: 200, certificate }, { ok: true, client: claims.client_id, bound });
  };
  const server: Server = createServer(
    {
      key: tls.privateKeyPem,
      cert: tls.certificatePem,
      // Any certificate: what binds the token is its thumbprint, not a chain.
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      void handle(req, res).catch((e: Error) => {
        res.statusCode = 500;
        res.end(e.message);
      });
    },
  );
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `https://127.0.0.1:${port}/api`,
    caPem: ca.certificatePem,
    requests,
    get connections() {
      return connections;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await trusting.close();
    },
  };
}

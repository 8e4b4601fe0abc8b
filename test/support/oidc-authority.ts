import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { createCa, issueCertificate } from '@app/dev-authority/pki';

// jest runs tests in a vm context; the global structuredClone makes objects of the outer realm,
// which oidc-provider's `a.constructor === Object` checks then reject (client jwks "invalid").
// A JSON clone made inside the test realm behaves as structuredClone does for its plain configuration.
globalThis.structuredClone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** A client registered at the third-party authority. */
export interface OidcClient {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  jwks?: { keys: object[] };
  /** Tokens only with a DPoP proof (RFC 9449 §5.2): a request without one is refused. */
  dpop_bound_access_tokens?: boolean;
}

/** oidc-provider, a certified OAuth 2.0 / OIDC server, on loopback over HTTPS, as a second authority. */
export interface OidcAuthority {
  /** `authorityHost` for the library; the issuer is `${authorityHost}/${tenant}` (path mount only). */
  authorityHost: string;
  tenant: string;
  /** The issuer URL, as its discovery document states it. */
  issuer: string;
  /** The discovery document's `token_endpoint_auth_methods_supported`. */
  authMethods: string[];
  caPem: string;
  /** The scope of the one resource server: `api://oidc-api/.default`. */
  scope: string;
  /** Token requests answered, by client id and outcome. */
  requests: { clientId: string; ok: boolean; error?: string }[];
  /** The HTTP headers of every token request, in order. */
  tokenRequestHeaders: Record<string, string | string[] | undefined>[];
  /** The `DPoP` header of each token request, in order (undefined: none was sent). */
  proofs: (string | undefined)[];
  /** The token endpoint URL and the JWKS URL, for a resource server. */
  tokenEndpoint: string;
  jwksUri: string;
  close(): Promise<void>;
}

/** Where the issuer lives and which client authentication methods its metadata allows. */
export interface OidcAuthorityOptions {
  /**
   * `path`: the issuer is `https://127.0.0.1:P/oidc/tenant-a`; `root`: `https://127.0.0.1:P`, an
   * issuer without a path, which no `authorityHost` + tenant split can express.
   * @default 'path'
   */
  mount?: 'path' | 'root';
  /** @default the methods the clients use */
  authMethods?: OidcClient['token_endpoint_auth_method'][];
  /**
   * How a token request names its resource (`api://oidc-api`): `scope`, its `/.default` scope is
   * enough; `resource`, the RFC 8707 `resource` parameter is required; `audience`, Auth0's
   * `audience` parameter is required. Without it the request is refused.
   * @default 'scope'
   */
  resourceFrom?: 'scope' | 'resource' | 'audience';
  /**
   * oidc-provider's DPoP (`features.dPoP`): `nonce` makes its token endpoint require its nonces
   * (`use_dpop_nonce` first); `algorithms` its `dPoPSigningAlgValues`.
   * @default DPoP on, no nonce required, ES256 / EdDSA
   */
  dpop?: { nonce?: boolean; algorithms?: ('ES256' | 'PS256' | 'RS256' | 'EdDSA')[] };
}

/**
 * Starts oidc-provider with the client credentials grant, resource indicators mapping
 * `api://oidc-api/.default` to the resource `api://oidc-api`, and its default replay detection of
 * client assertions (a `jti` is accepted once).
 */
export async function startOidcAuthority(
  clients: OidcClient[],
  options: OidcAuthorityOptions = {},
): Promise<OidcAuthority> {
  const ca = await createCa('oidc-provider test CA');
  const tls = await issueCertificate({ subject: 'localhost', issuer: ca, kind: 'server' });
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server: Server = createServer(
    { key: tls.privateKeyPem, cert: tls.certificatePem },
    (req, res) => handler(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  try {
    return await serveProvider(
      server,
      close,
      ca.certificatePem,
      clients,
      options,
      (h) => (handler = h),
    );
  } catch (e) {
    // oidc-provider rejects a bad configuration here, after the server listens: close it, or the
    // listening socket keeps the test runner alive after the suite has failed.
    await close();
    throw e;
  }
}

/** Configures oidc-provider behind the listening `server`. */
async function serveProvider(
  server: Server,
  close: () => Promise<void>,
  caPem: string,
  clients: OidcClient[],
  options: OidcAuthorityOptions,
  setHandler: (h: (req: IncomingMessage, res: ServerResponse) => void) => void,
): Promise<OidcAuthority> {
  const { port } = server.address() as AddressInfo;
  const root = options.mount === 'root';
  const authorityHost = root ? `https://127.0.0.1:${port}` : `https://127.0.0.1:${port}/oidc`;
  const tenant = root ? '' : 'tenant-a';
  const mount = root ? '' : `/oidc/${tenant}`;
  const issuer = root ? authorityHost : `${authorityHost}/${tenant}`;
  const authMethods = options.authMethods ?? [
    ...new Set(clients.map((c) => c.token_endpoint_auth_method)),
  ];
  const resource = 'api://oidc-api';
  const signing = await generateKeyPair('RS256', { extractable: true });
  const from = options.resourceFrom ?? 'scope';
  const provider = new Provider(issuer, {
    clientAuthMethods: authMethods,
    clients: clients.map((c) => ({
      ...c,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    jwks: {
      keys: [{ ...(await exportJWK(signing.privateKey)), alg: 'RS256', use: 'sig', kid: 'k1' }],
    },
    routes: { token: '/oauth2/v2.0/token' },
    ...(options.dpop?.algorithms
      ? { enabledJWA: { dPoPSigningAlgValues: options.dpop.algorithms } }
      : {}),
    features: {
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => options.dpop?.nonce === true,
      },
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without the parameter it needs, the issuer refuses (RFC 8707 invalid_target) rather
        // than issue a token for no resource.
        defaultResource: (ctx: { oidc: { body?: Record<string, unknown> } }) => {
          if (from === 'scope') return resource;
          // The token endpoint's own parameters do not include it: read from the form body.
          const audience = ctx.oidc.body?.audience;
          if (from === 'audience' && typeof audience === 'string') return audience;
          throw new errors.InvalidTarget(`the ${from} parameter is required`);
        },
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: `${resource}/.default`,
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
        }),
      },
    },
  });
  provider.proxy = false;
  const requests: OidcAuthority['requests'] = [];
  const tokenRequestHeaders: OidcAuthority['tokenRequestHeaders'] = [];
  provider.on('grant.success', (ctx: { oidc: { client?: { clientId: string } } }) =>
    requests.push({ clientId: ctx.oidc.client?.clientId ?? '?', ok: true }),
  );
  provider.on('grant.error', (ctx: { oidc: { client?: { clientId: string } } }, err: Error) =>
    requests.push({ clientId: ctx.oidc?.client?.clientId ?? '?', ok: false, error: err.message }),
  );
  const callback = provider.callback();
  const proofs: (string | undefined)[] = [];
  const tokenPath = `${mount}/oauth2/v2.0/token`;
  // Mounted below its issuer's path, as a framework would mount it.
  setHandler((req, res) => {
    if (req.method === 'POST' && req.url?.split('?')[0] === tokenPath) {
      proofs.push(req.headers.dpop as string | undefined);
    }
    if (!req.url?.startsWith(mount)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    if (req.method === 'POST' && req.url.split('?')[0].endsWith('/oauth2/v2.0/token')) {
      tokenRequestHeaders.push({ ...req.headers });
    }
    // As express does: oidc-provider derives its mount path from originalUrl.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
    req.url = req.url.slice(mount.length) || '/';
    void callback(req, res);
  });
  return {
    authorityHost,
    tenant,
    issuer,
    authMethods,
    caPem,
    scope: `${resource}/.default`,
    requests,
    tokenRequestHeaders,
    proofs,
    tokenEndpoint: `https://127.0.0.1:${port}${tokenPath}`,
    jwksUri: `${issuer}/jwks`,
    close,
  };
}

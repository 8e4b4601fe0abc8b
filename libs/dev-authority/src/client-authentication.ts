import type { KeyObject, X509Certificate } from 'node:crypto';
import { validateAssertion } from './assertion';
import { sameSecret, type AppRecord } from './directory';
import { EntraError } from './errors';
import type { RequestContext } from './http';
import type { TokenIssuer } from './token-issuer';
import type { CryptoKey } from './crypto-types';

/*
 * Who a token request is from: the client's secret (form or HTTP Basic) or client assertion
 * (certificate, SNI certificate, federated token — an agent identity's is its blueprint's token
 * exchange token), checked as Entra checks them.
 */

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What authenticating a client needs from the authority. */
export interface ClientAuthDeps {
  origin: string;
  issuer: TokenIssuer;
  clockToleranceSeconds: number;
  sniRoot: X509Certificate;
  federatedKey(issuer: string): CryptoKey | KeyObject | undefined;
  /** App ID URI of the resource with this application id or URI. */
  resourceUri(audience: string): string | undefined;
}

/**
 * Client id and secret of an HTTP Basic `Authorization` header (RFC 6749 section 2.3.1); undefined
 * without one. A Basic header that does not decode (not base64, no colon, a bad `%` escape) is
 * answered as Entra answers a malformed request, AADSTS9002313, rather than ignored or a 500.
 */
export function parseBasic(
  header: string | undefined,
): { clientId: string; secret: string } | undefined {
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

/**
 * Checks the client's credential; records its kind (and an assertion's `jti` and certificate) in
 * the log.
 */
export async function authenticate(
  ctx: RequestContext,
  deps: ClientAuthDeps,
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
    // An agent identity holds no credential: its requests carry its blueprint's token exchange
    // token. Entra words a request without one as for the client credentials grant.
    if (app.parentBlueprint !== undefined) {
      throw new EntraError(
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
    }
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
  if (result.thumbprint) ctx.log.certificateThumbprint = result.thumbprint;
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

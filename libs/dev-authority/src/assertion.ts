import type { KeyObject } from 'node:crypto';
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import {
  registeredKey,
  sniKey,
  thumbprintOf,
  type AssertionHeader,
  type CertificateKeyContext,
} from './assertion-key';
import { EntraError } from './errors';
import type { CredentialKind } from './types';
import type { CryptoKey } from './crypto-types';

/*
 * A client assertion as Entra reads it: a federated token (matched against the app's federated
 * identity records and its issuer's key), or the app's own assertion signed with a certificate (the
 * key found in assertion-key.ts), then its claims: issuer, subject, audience and times.
 */

/** What validating a client assertion needs from the authority. */
export interface AssertionContext extends CertificateKeyContext {
  /** Audiences Entra accepts: the tenant's token endpoints. */
  audiences: string[];
  clockToleranceSeconds: number;
  /** Signing key of a federated token's issuer, if the authority knows that issuer. */
  federatedKey(issuer: string): CryptoKey | KeyObject | undefined;
  /** App ID URI of a known resource named by application id or URI. */
  resourceUri(audience: string): string | undefined;
}

/** The credential a valid assertion proved. */
export interface AssertionResult {
  kind: CredentialKind;
  jti?: string;
  /** The certificate an app's own assertion names (`x5t#S256`, else `x5t`), as uppercase hex. */
  thumbprint?: string;
}

/** Validates a `client_assertion` as Entra does; throws {@link EntraError} on the first failure. */
export async function validateAssertion(
  assertion: string,
  ctx: AssertionContext,
): Promise<AssertionResult> {
  let header: AssertionHeader;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    payload = decodeJwt(assertion);
  } catch {
    throw new EntraError(50027, 'JWT token is invalid or malformed.');
  }
  const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
  // A token whose issuer is not the app itself is a federated credential (workload identity).
  if (payload.iss !== undefined && payload.iss !== ctx.app.clientId) {
    await validateFederated(assertion, payload, ctx);
    return { kind: 'federated', jti };
  }
  const isSni = Array.isArray(header.x5c) && header.x5c.length > 0;
  const key = isSni ? sniKey(header, ctx) : registeredKey(header, ctx);
  try {
    await compactVerify(assertion, key, { algorithms: ASSERTION_ALGORITHMS });
  } catch {
    throw new EntraError(
      700027,
      `Client assertion contains an invalid signature. [Reason - The provided signature value did ` +
        `not match the expected signature value., Thumbprint of key used by client: ` +
        `'${thumbprintOf(header)}']`,
    );
  }
  checkClaims(payload, ctx);
  return { kind: isSni ? 'sni-certificate' : 'certificate', jti, thumbprint: thumbprintOf(header) };
}

/** The signature algorithms Entra accepts on a certificate's client assertion. */
const ASSERTION_ALGORITHMS = ['RS256', 'PS256'];

function checkClaims(payload: JWTPayload, ctx: AssertionContext): void {
  if (payload.iss !== ctx.app.clientId) {
    throw new EntraError(
      700021,
      `Client assertion application identifier doesn't match 'client_id' parameter. Review the ` +
        `documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`,
    );
  }
  if (payload.sub !== payload.iss) {
    throw new EntraError(50048, 'Subject mismatches Issuer claim in the client assertion.');
  }
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.some((a) => a !== undefined && ctx.audiences.includes(a))) {
    throw new EntraError(
      700023,
      `Client assertion audience claim does not match Realm issuer. Review the documentation at ` +
        `https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`,
    );
  }
  checkTimes(payload, ctx);
}

function checkTimes(payload: JWTPayload, ctx: AssertionContext): void {
  const now = ctx.now.getTime() / 1000;
  const tolerance = ctx.clockToleranceSeconds;
  const exp = payload.exp;
  const nbf = payload.nbf ?? payload.iat;
  const bad =
    exp === undefined || exp + tolerance < now || (nbf !== undefined && nbf - tolerance > now);
  if (bad) {
    const fmt = (s?: number) => (s === undefined ? 'none' : new Date(s * 1000).toISOString());
    throw new EntraError(
      700024,
      `Client assertion is not within its valid time range. Current time: ${ctx.now.toISOString()}, ` +
        `assertion valid from ${fmt(nbf)}, expiry time of assertion ${fmt(exp)}. Review the ` +
        `documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`,
    );
  }
}

async function validateFederated(
  assertion: string,
  payload: JWTPayload,
  ctx: AssertionContext,
): Promise<void> {
  const issuer = String(payload.iss);
  const subject = String(payload.sub);
  const audiences = (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).filter(
    (a): a is string => typeof a === 'string',
  );
  const presented =
    `Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. ` +
    `Assertion Audience: '${audiences.join(',')}'.`;
  const check =
    ' Check your federated identity credential Subject, Audience and Issuer against the presented ' +
    'assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
  // Matching is exact (case-sensitive), as Entra does since 2024.
  const byIssuer = ctx.app.federated.filter((f) => f.issuer === issuer);
  if (byIssuer.length === 0) {
    throw new EntraError(
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. ${presented}${check}`,
    );
  }
  const bySubject = byIssuer.filter((f) => f.subject === subject);
  if (bySubject.length === 0) {
    throw new EntraError(
      700213,
      `No matching federated identity record found for presented assertion subject '${subject}'. ${presented}${check}`,
    );
  }
  // An Entra-issued v2.0 token names its audience by application id: compare by App ID URI too.
  const presentedUris = audiences.flatMap((a) => [a, ctx.resourceUri(a) ?? a]);
  if (!bySubject.some((f) => presentedUris.includes(f.audience))) {
    throw new EntraError(
      700212,
      `No matching federated identity record found for presented assertion audience '${audiences.join(',')}'. ${presented}${check}`,
    );
  }
  const key = ctx.federatedKey(issuer);
  if (key === undefined) {
    throw new EntraError(
      50027,
      `Invalid JWT token. Unable to retrieve the signing keys of issuer '${issuer}'.`,
    );
  }
  try {
    await compactVerify(assertion, key, { algorithms: ['RS256'] });
  } catch {
    throw new EntraError(
      50027,
      `Invalid JWT token. External ID token from issuer '${issuer}' failed signature verification.`,
    );
  }
  checkTimes(payload, ctx);
}
